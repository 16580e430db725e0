#include "collect/scheduler.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>
#include <vector>

#include "collect/exposition_text.hpp"

namespace pgvigil::collect {

namespace {

// The wheel's tick only decides bucketing; due times stay exact. 10 ms x 4096
// slots covers 41 s per rotation, so common intervals wrap rarely.
constexpr auto kWheelTick = std::chrono::milliseconds(10);
constexpr std::size_t kWheelSlots = 4096;

// The per-job series, in exposition order. A gauge and a counter for the
// duration, not a histogram: 18 series per job were more than half of
// /metrics with 50 targets, for a distribution nobody used.
struct JobMetric {
  const char* name;
  const char* help;
  prometheus::MetricType type;
};
constexpr std::array<JobMetric, 6> kJobMetrics{{
    {"pgvigil_probe_runs_total",
     "Probe runs that finished (successfully or not), per target and probe.",
     prometheus::MetricType::Counter},
    {"pgvigil_probe_failures_total",
     "Probe runs that finished with a failure or threw while starting.",
     prometheus::MetricType::Counter},
    {"pgvigil_probe_skipped_total",
     "Probe runs not started because the previous run of the same probe on the same target was "
     "still in flight.",
     prometheus::MetricType::Counter},
    {"pgvigil_probe_duration_seconds",
     "Time the last run of the probe took, from start to completion, in seconds.",
     prometheus::MetricType::Gauge},
    {"pgvigil_probe_duration_seconds_total",
     "Time all runs of the probe took, in seconds (divide its rate by that of "
     "pgvigil_probe_runs_total for the mean).",
     prometheus::MetricType::Counter},
    {"pgvigil_probe_last_success_timestamp_seconds",
     "Unix time at which the probe last finished successfully on the target; absent until its "
     "first success.",
     prometheus::MetricType::Gauge},
}};

// a mod m, in [0, m), also for negative a.
Scheduler::Clock::duration positive_mod(Scheduler::Clock::duration a,
                                        Scheduler::Clock::duration m) {
  auto r = a % m;
  return r < Scheduler::Clock::duration::zero() ? r + m : r;
}

}  // namespace

struct Scheduler::JobState {
  JobKey key;
  Clock::duration interval{};
  Job job;
  Clock::time_point next_due;  // the next point of the fixed rhythm
  TimerId timer;
  bool alive = true;  // false once removed: late Done calls are ignored
  bool in_flight = false;
  bool early = false;     // the next fire is a run_soon(), off the grid
  std::uint64_t run = 0;  // number of the current (or last) run
  // Plain numbers, not prometheus-cpp series: a fleet has tens of thousands
  // of jobs, and the library's Collect() copies each series' labels per scrape.
  double runs = 0;
  double failures = 0;
  double skipped = 0;
  double duration = 0;        // the last run
  double duration_total = 0;  // all runs
  std::optional<double> last_success;
  // {target="...",probe="..."}, escaped once: written into every line.
  std::string label_text;

  // The value of kJobMetrics[i]; none for last_success before a success.
  std::optional<double> value(std::size_t i) const {
    switch (i) {
      case 0:
        return runs;
      case 1:
        return failures;
      case 2:
        return skipped;
      case 3:
        return duration;
      case 4:
        return duration_total;
      default:
        return last_success;
    }
  }
};

std::uint64_t stable_target_hash(std::string_view target) noexcept {
  constexpr std::uint64_t kOffsetBasis = 14695981039346656037ULL;
  constexpr std::uint64_t kPrime = 1099511628211ULL;
  std::uint64_t hash = kOffsetBasis;
  const auto mix = [&hash](std::string_view bytes) {
    for (const char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kPrime;
    }
  };
  mix(target);
  return hash;
}

Scheduler::Clock::duration Scheduler::splay(const JobKey& key, Clock::duration interval) noexcept {
  if (interval <= Clock::duration::zero()) return Clock::duration::zero();
  const auto ticks = static_cast<std::uint64_t>(interval.count());
  return Clock::duration(static_cast<Clock::rep>(stable_target_hash(key.target) % ticks));
}

Scheduler::Scheduler(Clock::time_point start,
                     std::function<std::chrono::system_clock::time_point()> wall_clock,
                     std::function<Clock::time_point()> monotonic_clock)
    : wall_clock_(std::move(wall_clock)),
      monotonic_clock_(std::move(monotonic_clock)),
      wheel_(kWheelTick, kWheelSlots, start),
      last_advance_(start) {
  if (!wall_clock_ || !monotonic_clock_) {
    throw std::invalid_argument("scheduler: clock functions must be set");
  }
  wall_offset_ = std::chrono::duration_cast<Clock::duration>(wall_clock_().time_since_epoch()) -
                 start.time_since_epoch();
}

Scheduler::~Scheduler() {
  for (auto& [key, state] : jobs_) drop(*state);
}

void Scheduler::add(const JobKey& key, Clock::duration interval, Job job) {
  if (key.target.empty() || key.probe.empty()) {
    throw std::invalid_argument("scheduler: a job needs a target and a probe name");
  }
  if (interval <= Clock::duration::zero()) {
    throw std::invalid_argument("scheduler: interval of " + key.target + "/" + key.probe +
                                " must be positive");
  }
  if (!job) throw std::invalid_argument("scheduler: empty job for " + key.target + "/" + key.probe);

  std::shared_ptr<JobState> state;
  if (auto it = jobs_.find(key); it != jobs_.end()) {
    state = it->second;
    wheel_.cancel(state->timer);
  } else {
    state = std::make_shared<JobState>();
    state->key = key;
    append_label_set(state->label_text, {{"target", key.target}, {"probe", key.probe}});
    jobs_.emplace(key, state);
  }
  state->interval = interval;
  state->job = std::move(job);

  // Anchor the phase to wall time so it survives restarts: the first run is
  // the next instant (from now on) whose wall-clock offset into the interval
  // equals the key's splay. Wall time is the scheduler's own time plus the
  // offset read once at start, not the clock read again per job: jobs of one
  // target then fall due at the very same instant and fire in one advance
  // (one batch on its connection), not microseconds apart in two.
  const auto wall_phase = positive_mod(last_advance_.time_since_epoch() + wall_offset_, interval);
  const auto wait = positive_mod(splay(key, interval) - wall_phase, interval);
  state->next_due = last_advance_ + wait;
  arm(state, state->next_due);
}

bool Scheduler::remove(const JobKey& key) {
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return false;
  drop(*it->second);
  jobs_.erase(it);
  return true;
}

std::size_t Scheduler::remove_target(const std::string& target) {
  std::size_t removed = 0;
  auto it = jobs_.lower_bound(JobKey{target, ""});
  while (it != jobs_.end() && it->first.target == target) {
    drop(*it->second);
    it = jobs_.erase(it);
    ++removed;
  }
  return removed;
}

std::vector<std::pair<std::string, double>> Scheduler::probe_values(const std::string& target,
                                                                    std::string_view metric) const {
  std::vector<std::pair<std::string, double>> out;
  const auto* known = std::find_if(kJobMetrics.begin(), kJobMetrics.end(),
                                   [&](const JobMetric& each) { return each.name == metric; });
  if (known == kJobMetrics.end()) return out;
  const auto index = static_cast<std::size_t>(known - kJobMetrics.begin());
  for (auto it = jobs_.lower_bound(JobKey{target, ""});
       it != jobs_.end() && it->first.target == target; ++it)
    if (auto value = it->second->value(index)) out.emplace_back(it->first.probe, *value);
  return out;
}

bool Scheduler::run_soon(const JobKey& key) {
  auto it = jobs_.find(key);
  if (it == jobs_.end() || it->second->in_flight) return false;
  wheel_.cancel(it->second->timer);
  // Due "now": the wheel fires it at the next advance. next_due keeps the
  // rhythm, so the run after this one falls back on the usual grid.
  it->second->early = true;
  arm(it->second, last_advance_);
  if (!advancing_ && early_listener_) early_listener_();
  return true;
}

std::size_t Scheduler::advance(Clock::time_point now) {
  last_advance_ = std::max(last_advance_, now);
  // Nothing in between throws: fire() catches what a job throws.
  advancing_ = true;
  const auto fired = wheel_.advance(last_advance_);
  advancing_ = false;
  return fired;
}

std::optional<Scheduler::Clock::time_point> Scheduler::next_due() const {
  return wheel_.next_due();
}

void Scheduler::arm(const std::shared_ptr<JobState>& state, Clock::time_point due) {
  // The wheel callback must not throw; fire() catches what a job throws.
  state->timer = wheel_.schedule(due, [this, state]() { fire(state); });
}

void Scheduler::fire(const std::shared_ptr<JobState>& state) {
  const auto now = last_advance_;
  // Re-arm first, on the fixed rhythm: the next grid point after now. A loop
  // that fell behind skips the missed points instead of bursting through them.
  if (state->next_due <= now) {
    const auto behind = now - state->next_due;
    state->next_due += (behind / state->interval + 1) * state->interval;
  }
  // An early run (run_soon) just before a grid point would meet itself still
  // in flight there and count a skip: that point goes, the rhythm stays.
  if (std::exchange(state->early, false) && state->next_due - now < state->interval / 2)
    state->next_due += state->interval;
  arm(state, state->next_due);

  if (state->in_flight) {
    state->skipped += 1;
    return;
  }
  state->in_flight = true;
  const std::uint64_t run = ++state->run;
  const auto started = monotonic_clock_();
  Done done = [this, state, run, started](std::optional<bool> success) {
    // `alive` is checked first so a Done outliving the scheduler never
    // reaches it (the destructor marks every job dead).
    if (state->alive) finish(*state, run, started, success);
  };
  // Call a copy: the job may replace or remove itself while it runs.
  const Job job = state->job;
  try {
    job(std::move(done));
  } catch (...) {
    // A job that throws while starting is a failed run (unless it already
    // reported its result, in which case finish() ignores this).
    finish(*state, run, started, false);
  }
}

void Scheduler::finish(JobState& state, std::uint64_t run, Clock::time_point started,
                       std::optional<bool> ran) {
  // Ignore a removed job, a second Done for the same run, or a stale run.
  if (!state.alive || !state.in_flight || state.run != run) return;
  state.in_flight = false;
  if (!ran) return;  // could not start: not a run
  const bool success = *ran;
  state.runs += 1;
  if (!success) state.failures += 1;
  const std::chrono::duration<double> elapsed = monotonic_clock_() - started;
  state.duration = std::max(0.0, elapsed.count());
  state.duration_total += state.duration;
  if (success) {
    const std::chrono::duration<double> since_epoch = wall_clock_().time_since_epoch();
    state.last_success = since_epoch.count();
  }
}

void Scheduler::drop(JobState& state) {
  state.alive = false;
  wheel_.cancel(state.timer);
}

std::vector<prometheus::MetricFamily> Scheduler::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  for (std::size_t i = 0; i < kJobMetrics.size(); ++i) {
    auto& family = families.emplace_back();
    family.name = kJobMetrics[i].name;
    family.help = kJobMetrics[i].help;
    family.type = kJobMetrics[i].type;
    for (const auto& [key, state] : jobs_) {
      const auto value = state->value(i);
      if (!value) continue;
      auto& metric = family.metric.emplace_back();
      metric.label = {{"target", key.target}, {"probe", key.probe}};
      (family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value) =
          *value;
    }
  }
  return families;
}

void Scheduler::write_text(std::string& out) const {
  for (std::size_t i = 0; i < kJobMetrics.size(); ++i) {
    prometheus::MetricFamily header;
    header.name = kJobMetrics[i].name;
    header.help = kJobMetrics[i].help;
    header.type = kJobMetrics[i].type;
    append_family_header(out, header);
    for (const auto& [key, state] : jobs_) {
      const auto value = state->value(i);
      if (!value) continue;
      out += header.name;
      out += state->label_text;
      out += ' ';
      append_sample_value(out, *value);
      out += '\n';
    }
  }
}

}  // namespace pgvigil::collect
