#pragma once
// The probe scheduler: runs every (target, probe) job at its interval on top
// of a timer wheel, with a stable per-pair phase, a fixed rhythm, no overlap
// of a job with itself, and per-job metrics.
//
// Time is injected: the owner (LoopDriver in the daemon, a manual clock in
// tests) calls advance(now). The scheduler is single-threaded: every method,
// and every Done callback, must be called on the thread that calls advance().
// A job that finishes on a worker thread posts its Done back to that thread.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collect/timer_wheel.hpp"

namespace pgvigil::collect {

struct JobKey {
  std::string target;
  std::string probe;
  auto operator<=>(const JobKey&) const = default;
};

// FNV-1a (64 bit) over the target's name: stable across builds and
// platforms, unlike std::hash, so a target keeps its phase after a restart or
// an upgrade. The phase belongs to the target, not to the (target, probe)
// pair: all of a target's jobs whose intervals meet fall due at the same
// instant, and their statements leave in one pipelined round trip.
std::uint64_t stable_target_hash(std::string_view target) noexcept;

// How a job reports one run: done(true) or done(false) for a run that
// finished; done.not_run() for one that could not start (its target's
// session is not up, which pg_up reports): neither a run nor a failure.
class RunDone {
 public:
  RunDone() = default;
  template <typename Report>
  requires std::invocable<Report&, std::optional<bool>> RunDone(Report report)
      : report_(std::move(report)) {}  // NOLINT: lambdas convert implicitly
  void operator()(bool success) const {
    if (report_) report_(success);
  }
  void not_run() const {
    if (report_) report_(std::nullopt);
  }

 private:
  std::function<void(std::optional<bool>)> report_;
};

class Scheduler : public prometheus::Collectable {
 public:
  using Clock = std::chrono::steady_clock;
  // A job calls Done exactly once per run, now or later; later calls of the
  // same Done are ignored, as are calls after the job was removed.
  using Done = RunDone;
  using Job = std::function<void(Done)>;

  // `start` is the scheduler's "now" until the first advance(). `wall_clock`
  // stamps successes and anchors phases to wall time (so a restart keeps
  // them). `monotonic_clock` times runs for the duration histogram; tests
  // inject a manual one.
  Scheduler(Clock::time_point start,
            std::function<std::chrono::system_clock::time_point()> wall_clock,
            std::function<Clock::time_point()> monotonic_clock = &Clock::now);
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a job, or replaces the job and interval of an existing key (its
  // metrics continue; a run in flight finishes and is counted normally, and
  // the new job does not start before it has). Runs fall on the wall-clock
  // grid of the interval shifted by the target's splay: at the instants t with
  // (t - Unix epoch) mod interval == stable_target_hash(key.target) mod interval.
  // Throws std::invalid_argument for an empty target or probe, a non-positive
  // interval or an empty job.
  void add(const JobKey& key, Clock::duration interval, Job job);
  // Removes the job and its metric series. A Done arriving later is ignored.
  bool remove(const JobKey& key);
  std::size_t remove_target(const std::string& target);
  // Runs the job at the next advance(), then returns to its usual rhythm.
  // No-op (false) for an unknown key or a job in flight.
  bool run_soon(const JobKey& key);
  // Called when run_soon() makes a job due from outside advance() (a session
  // came up, a target was added): whoever drives the scheduler can advance
  // now instead of at its planned wake. Inside advance() it is not called;
  // the driver re-plans after advance() anyway. Empty: nobody listens.
  void on_early_run(std::function<void()> listener) { early_listener_ = std::move(listener); }

  // Starts every job due at or before `now` (or counts it skipped if its
  // previous run is still in flight). Returns how many due jobs it handled.
  std::size_t advance(Clock::time_point now);
  std::optional<Clock::time_point> next_due() const;
  Clock::time_point last_advance() const noexcept { return last_advance_; }

  bool has_job(const JobKey& key) const { return jobs_.contains(key); }
  // One target's values of a pgvigil_probe_* metric, by probe: what the
  // alert rules read without copying the registry (runs_total,
  // failures_total, skipped_total, last_success_timestamp_seconds).
  std::vector<std::pair<std::string, double>> probe_values(const std::string& target,
                                                           std::string_view metric) const;
  std::size_t job_count() const noexcept { return jobs_.size(); }
  // The per-job series (pgvigil_probe_*, labelled target and probe), as
  // families and as exposition text written straight from the job table.
  std::vector<prometheus::MetricFamily> Collect() const override;
  void write_text(std::string& out) const;
  // The phase of a key within an interval (exposed for tests and diagnostics).
  static Clock::duration splay(const JobKey& key, Clock::duration interval) noexcept;

 private:
  struct JobState;
  void arm(const std::shared_ptr<JobState>& state, Clock::time_point due);
  void fire(const std::shared_ptr<JobState>& state);
  void finish(JobState& state, std::uint64_t run, Clock::time_point started,
              std::optional<bool> success);
  void drop(JobState& state);

  std::function<std::chrono::system_clock::time_point()> wall_clock_;
  Clock::duration wall_offset_{};  // wall time minus scheduler time, read at start
  std::function<Clock::time_point()> monotonic_clock_;
  TimerWheel<Clock> wheel_;
  Clock::time_point last_advance_;
  bool advancing_ = false;
  std::function<void()> early_listener_;
  std::map<JobKey, std::shared_ptr<JobState>> jobs_;
};

}  // namespace pgvigil::collect
