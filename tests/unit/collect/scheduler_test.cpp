#include <doctest/doctest.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "collect/scheduler.hpp"

using namespace std::chrono_literals;
using pgvigil::collect::JobKey;
using pgvigil::collect::Scheduler;

namespace {

using Clock = Scheduler::Clock;

// One manual time line drives the scheduler, the run timer and the wall clock.
// The wall clock starts on a whole minute, so for intervals dividing a minute
// the first run of a key comes exactly `splay` after the start.
struct Harness {
  Clock::time_point start = Clock::time_point{} + 1000h;
  Clock::time_point now = start;
  std::chrono::system_clock::time_point wall_start{std::chrono::seconds(1'800'000'000)};
  Scheduler scheduler{start, [this] { return wall_start + (now - start); }, [this] { return now; }};

  // Moves time forward in small steps, as the event loop would.
  void run_until(Clock::time_point end, Clock::duration step = 1ms) {
    while (now < end) {
      now = std::min(now + step, end);
      scheduler.advance(now);
    }
  }
  void jump_to(Clock::time_point t) {
    now = t;
    scheduler.advance(now);
  }
  double wall_seconds() const {
    return std::chrono::duration<double>((wall_start + (now - start)).time_since_epoch()).count();
  }
};

const prometheus::ClientMetric* find_series(const std::vector<prometheus::MetricFamily>& families,
                                            const std::string& name, const JobKey& key) {
  for (const auto& family : families) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool target = false;
      bool probe = false;
      for (const auto& label : metric.label) {
        target = target || (label.name == "target" && label.value == key.target);
        probe = probe || (label.name == "probe" && label.value == key.probe);
      }
      if (target && probe) return &metric;
    }
  }
  return nullptr;
}

// The counter or gauge value of one series, read back through Collect().
std::optional<double> value_of(const prometheus::Collectable& metrics, const std::string& name,
                               const JobKey& key) {
  const auto families = metrics.Collect();
  const auto* metric = find_series(families, name, key);
  if (metric == nullptr) return std::nullopt;
  for (const auto& family : families) {
    if (family.name != name) continue;
    if (family.type == prometheus::MetricType::Counter) return metric->counter.value;
    if (family.type == prometheus::MetricType::Gauge) return metric->gauge.value;
  }
  return std::nullopt;
}

// A job that finishes at once with the given outcome and records its start.
Scheduler::Job recording_job(std::vector<Clock::time_point>& starts, const Harness& h,
                             bool success = true) {
  return [&starts, &h, success](const Scheduler::Done& done) {
    starts.push_back(h.now);
    done(success);
  };
}

const JobKey kKey{"db1", "activity"};

}  // namespace

TEST_CASE("the phase hash is FNV-1a over the target's name") {
  // A golden value: a different hash would move every target's phase.
  CHECK(pgvigil::collect::stable_target_hash("db1") == 0xca896918f453f7d6ULL);
  CHECK(pgvigil::collect::stable_target_hash("db1") != pgvigil::collect::stable_target_hash("db2"));
}

TEST_CASE("a target's jobs fall due at the same instants when their intervals meet") {
  Harness h;
  std::vector<Clock::time_point> liveness;
  std::vector<Clock::time_point> activity;
  std::vector<Clock::time_point> other_target;
  h.scheduler.add({"db1", "liveness"}, 1s, recording_job(liveness, h));
  h.scheduler.add({"db1", "activity"}, 5s, recording_job(activity, h));
  h.scheduler.add({"db2", "activity"}, 5s, recording_job(other_target, h));
  h.run_until(h.start + 16s);
  REQUIRE(activity.size() >= 3);
  REQUIRE(liveness.size() >= 15);
  // Every activity run coincides with a liveness run of the same target.
  for (const auto t : activity)
    CHECK(std::find(liveness.begin(), liveness.end(), t) != liveness.end());
  CHECK(Scheduler::splay({"db1", "liveness"}, 5s) == Scheduler::splay({"db1", "activity"}, 5s));
  // Targets still spread: another target has its own phase.
  REQUIRE(!other_target.empty());
  CHECK(other_target.front() != activity.front());
}

TEST_CASE("a target's jobs meet exactly even when the wall clock moves between adds") {
  // A real wall clock has moved by the time the second job is added; the
  // phase must not follow it, or a loop that wakes at the first due instant
  // runs the two jobs in different turns (two batches on the connection).
  Harness h;
  std::chrono::microseconds ticks{0};
  Scheduler scheduler{h.start, [&] { return h.wall_start + (h.now - h.start) + (++ticks); },
                      [&] { return h.now; }};
  std::vector<Clock::time_point> liveness;
  std::vector<Clock::time_point> activity;
  scheduler.add({"db1", "liveness"}, 1s, recording_job(liveness, h));
  h.now += 3ms;  // and the loop turns before the next job is added
  scheduler.advance(h.now);
  scheduler.add({"db1", "activity"}, 5s, recording_job(activity, h));
  // Wake exactly at each due instant, as the loop driver does.
  for (int wakes = 0; wakes < 100 && h.now < h.start + 16s; ++wakes) {
    auto due = scheduler.next_due();
    REQUIRE(due);
    h.now = *due;
    scheduler.advance(h.now);
  }
  REQUIRE(activity.size() >= 3);
  for (const auto t : activity)
    CHECK(std::find(liveness.begin(), liveness.end(), t) != liveness.end());
}

TEST_CASE("jobs run on a fixed rhythm starting at their splay") {
  Harness h;
  std::vector<Clock::time_point> starts;
  h.scheduler.add(kKey, 1s, recording_job(starts, h));
  CHECK(h.scheduler.has_job(kKey));
  CHECK(h.scheduler.job_count() == 1);
  const auto first = h.start + Scheduler::splay(kKey, 1s);
  CHECK(h.scheduler.next_due() == first);

  h.run_until(h.start + 5s);  // 1 ms steps: each run starts at the first step at or after its due
  REQUIRE(starts.size() == 5);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto due = first + std::chrono::seconds(i);
    CHECK(starts[i] == h.start + std::chrono::ceil<std::chrono::milliseconds>(due - h.start));
  }
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 5.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", kKey) == 0.0);
  CHECK(h.scheduler.last_advance() == h.start + 5s);
}

TEST_CASE("the rhythm does not drift with slow runs and skips ahead after a stall") {
  Harness h;
  std::vector<Clock::time_point> starts;
  std::vector<Scheduler::Done> pending;
  h.scheduler.add(kKey, 1s, [&](Scheduler::Done done) {
    starts.push_back(h.now);
    pending.push_back(std::move(done));
  });
  const auto first = h.start + Scheduler::splay(kKey, 1s);
  h.run_until(first);
  REQUIRE(starts.size() == 1);
  // Finish 700 ms late: the next run is still one interval after the first.
  h.run_until(first + 700ms);
  pending.back()(true);
  h.run_until(first + 1s);
  REQUIRE(starts.size() == 2);
  CHECK(starts[1] == first + 1s);
  pending.back()(true);

  // The loop stalls for 3.5 intervals: one run when it wakes, no burst.
  h.jump_to(first + 4500ms);
  CHECK(starts.size() == 3);
  CHECK(h.scheduler.next_due() == first + 5s);
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey) == 0.0);
}

TEST_CASE("a run still in flight makes the next one skip, and the skip is counted") {
  Harness h;
  int started = 0;
  std::optional<Scheduler::Done> pending;
  h.scheduler.add(kKey, 1s, [&](Scheduler::Done done) {
    ++started;
    pending = std::move(done);
  });
  const auto first = h.start + Scheduler::splay(kKey, 1s);
  h.run_until(first + 2500ms);  // due at first, +1 s, +2 s
  CHECK(started == 1);
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey) == 2.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 0.0);

  (*pending)(true);
  (*pending)(false);  // a second call of the same Done is ignored
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 1.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", kKey) == 0.0);
  h.run_until(first + 3s);
  CHECK(started == 2);
}

TEST_CASE("failed and throwing runs count as failures and never propagate") {
  Harness h;
  const JobKey failing{"db1", "replication"};
  const JobKey throwing{"db1", "locks"};
  std::vector<Clock::time_point> failing_starts;
  int throws = 0;
  h.scheduler.add(failing, 1s, recording_job(failing_starts, h, false));
  h.scheduler.add(throwing, 1s, [&](const Scheduler::Done&) {
    ++throws;
    throw std::runtime_error("cannot start");
  });
  CHECK_NOTHROW(h.run_until(h.start + 3s));
  CHECK(failing_starts.size() == 3);
  CHECK(throws == 3);  // not stuck "in flight" after a throw
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", failing) == 3.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", failing) == 3.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", throwing) == 3.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", throwing) == 0.0);
  // No success yet: no timestamp series (a 0 would read as "stale since 1970").
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_last_success_timestamp_seconds", failing));
}

TEST_CASE("a run that could not start is neither a run nor a failure, and frees the job") {
  Harness h;
  int started = 0;
  h.scheduler.add(kKey, 1s, [&](const Scheduler::Done& done) {
    ++started;
    if (started <= 2) return done.not_run();  // the target's session is not up yet
    done(true);
  });
  h.run_until(h.start + Scheduler::splay(kKey, 1s) + 2s);
  CHECK(started == 3);  // not left "in flight": every due point started a run
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 1.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", kKey) == 0.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey) == 0.0);
}

TEST_CASE("a job that reports success and then throws counts one successful run") {
  Harness h;
  h.scheduler.add(kKey, 1s, [](const Scheduler::Done& done) {
    done(true);
    throw std::runtime_error("after done");
  });
  h.run_until(h.start + 1s);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 1.0);
  CHECK(value_of(h.scheduler, "pgvigil_probe_failures_total", kKey) == 0.0);
}

TEST_CASE("duration and last success are measured with the injected clocks") {
  Harness h;
  std::optional<Scheduler::Done> pending;
  h.scheduler.add(kKey, 10s, [&](Scheduler::Done done) { pending = std::move(done); });
  const auto first = h.start + Scheduler::splay(kKey, 10s);
  h.run_until(first);
  REQUIRE(pending);
  h.run_until(first + 250ms);
  (*pending)(true);
  const double finished_at = h.wall_seconds();

  CHECK(value_of(h.scheduler, "pgvigil_probe_duration_seconds", kKey) == doctest::Approx(0.25));
  CHECK(value_of(h.scheduler, "pgvigil_probe_duration_seconds_total", kKey) ==
        doctest::Approx(0.25));
  CHECK(value_of(h.scheduler, "pgvigil_probe_last_success_timestamp_seconds", kKey) ==
        doctest::Approx(finished_at));
  CHECK(finished_at > 1'800'000'000.0);
}

TEST_CASE("metric families carry help texts") {
  Harness h;
  h.scheduler.add(kKey, 1s, [](const Scheduler::Done& done) { done(true); });
  h.run_until(h.start + 1s);
  int seen = 0;
  for (const auto& family : h.scheduler.Collect()) {
    if (family.name.rfind("pgvigil_probe_", 0) != 0) continue;
    ++seen;
    CHECK_MESSAGE(family.help.size() > 20, family.name);
  }
  CHECK(seen == 6);
}

TEST_CASE("splay spreads many keys over the interval and is stable") {
  constexpr int kTargets = 1000;
  const auto interval = 1s;
  std::vector<int> buckets(100, 0);  // 10 ms buckets
  std::vector<Clock::duration> phases;
  for (int i = 0; i < kTargets; ++i) {
    const JobKey key{"db-" + std::to_string(i), "activity"};
    const auto phase = Scheduler::splay(key, interval);
    REQUIRE(phase >= Clock::duration::zero());
    REQUIRE(phase < interval);
    ++buckets[static_cast<std::size_t>(phase / 10ms)];
    phases.push_back(phase);
    CHECK(Scheduler::splay(key, interval) == phase);  // same key, same phase
  }
  const int fullest = *std::max_element(buckets.begin(), buckets.end());
  const auto empty = std::count(buckets.begin(), buckets.end(), 0);
  CHECK(fullest <= kTargets * 3 / 100);
  CHECK(empty <= 5);
  std::sort(phases.begin(), phases.end());
  CHECK(std::unique(phases.begin(), phases.end()) == phases.end());
}

TEST_CASE("the scheduler starts each key at its splay, the same after a restart") {
  // Two daemons started at different monotonic times but whose wall clocks
  // share the phase within the interval run the key at the same wall phase.
  const auto first_run_wall_phase = [](Clock::duration steady_offset, std::chrono::seconds wall) {
    const auto start = Clock::time_point{} + 1000h + steady_offset;
    auto now = start;
    const std::chrono::system_clock::time_point wall_start{wall};
    Scheduler scheduler(start, [&] { return wall_start + (now - start); });
    std::optional<std::chrono::system_clock::time_point> ran_at;
    scheduler.add(kKey, 15s, [&](const Scheduler::Done& done) {
      ran_at = wall_start + (now - start);
      done(true);
    });
    while (!ran_at && now < start + 16s) {
      now += 1ms;
      scheduler.advance(now);
    }
    REQUIRE(ran_at);
    return ran_at->time_since_epoch() % 15s;
  };
  const auto phase_a = first_run_wall_phase(0ms, std::chrono::seconds(1'800'000'000));
  const auto phase_b = first_run_wall_phase(12345ms, std::chrono::seconds(1'800'000'007));
  CHECK(phase_a == phase_b);
  CHECK(phase_a == std::chrono::duration_cast<std::chrono::milliseconds>(
                       Scheduler::splay(kKey, 15s) + 999999ns));  // rounded up to the 1 ms step
}

TEST_CASE("1000 scheduled targets do not fire together") {
  Harness h;
  std::vector<int> per_10ms(100, 0);
  for (int i = 0; i < 1000; ++i) {
    h.scheduler.add({"db-" + std::to_string(i), "activity"}, 1s, [&](const Scheduler::Done& done) {
      ++per_10ms[static_cast<std::size_t>(((h.now - h.start) % 1s) / 10ms)];
      done(true);
    });
  }
  h.run_until(h.start + 1s);
  int total = 0;
  for (int count : per_10ms) total += count;
  CHECK(total == 1000);
  CHECK(*std::max_element(per_10ms.begin(), per_10ms.end()) <= 30);
}

TEST_CASE("remove drops the job and its series, a late Done is ignored") {
  Harness h;
  std::optional<Scheduler::Done> pending;
  h.scheduler.add(kKey, 1s, [&](Scheduler::Done done) { pending = std::move(done); });
  h.run_until(h.start + 1s);
  REQUIRE(pending);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 0.0);

  CHECK(h.scheduler.remove(kKey));
  CHECK_FALSE(h.scheduler.remove(kKey));
  CHECK_FALSE(h.scheduler.has_job(kKey));
  CHECK_FALSE(h.scheduler.next_due());
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey));
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey));
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_duration_seconds", kKey));
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_duration_seconds_total", kKey));

  CHECK_NOTHROW((*pending)(true));
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey));
  CHECK_FALSE(value_of(h.scheduler, "pgvigil_probe_last_success_timestamp_seconds", kKey));

  // Adding it again starts from fresh series and is not blocked by the old run.
  int runs = 0;
  h.scheduler.add(kKey, 1s, [&](const Scheduler::Done& done) {
    ++runs;
    done(true);
  });
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 0.0);
  h.run_until(h.now + 1s);
  CHECK(runs == 1);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 1.0);
}

TEST_CASE("a Done that outlives the scheduler is harmless") {
  std::optional<Scheduler::Done> pending;
  {
    Harness h;
    h.scheduler.add(kKey, 1s, [&](Scheduler::Done done) { pending = std::move(done); });
    h.run_until(h.start + 1s);
  }
  REQUIRE(pending);
  CHECK_NOTHROW((*pending)(true));
}

TEST_CASE("remove_target removes only that target's jobs") {
  Harness h;
  const auto noop = [](const Scheduler::Done& done) { done(true); };
  h.scheduler.add({"db1", "activity"}, 1s, noop);
  h.scheduler.add({"db1", "locks"}, 1s, noop);
  h.scheduler.add({"db10", "activity"}, 1s, noop);
  h.scheduler.add({"db2", "activity"}, 1s, noop);
  CHECK(h.scheduler.remove_target("db1") == 2);
  CHECK(h.scheduler.job_count() == 2);
  CHECK(h.scheduler.has_job({"db10", "activity"}));
  CHECK(h.scheduler.has_job({"db2", "activity"}));
  CHECK(h.scheduler.remove_target("db1") == 0);
  CHECK(h.scheduler.remove_target("nope") == 0);
}

TEST_CASE("an early run just before a grid point does not meet itself there as a skip") {
  // After a reconnect the runner asks for the session's jobs at once; when
  // that lands just before the job's own grid point, the point is dropped
  // rather than counted as skipped behind the early run.
  Harness h;
  std::vector<Clock::time_point> starts;
  std::optional<Scheduler::Done> pending;
  h.scheduler.add(kKey, 1s, [&](Scheduler::Done done) {
    starts.push_back(h.now);
    pending = std::move(done);
  });
  const auto first = h.start + Scheduler::splay(kKey, 1s);
  h.run_until(first);
  REQUIRE(starts.size() == 1);
  (*pending)(true);
  h.run_until(first + 1s - 20ms);
  h.scheduler.run_soon(kKey);
  h.run_until(first + 1s - 19ms);
  REQUIRE(starts.size() == 2);     // the early run, 20 ms before the grid point
  h.run_until(first + 1s + 10ms);  // still in flight across the grid point
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey) == 0.0);
  (*pending)(true);
  // The next run is on the grid again, one interval later.
  h.run_until(first + 2s - 1ms);
  CHECK(starts.size() == 2);
  h.run_until(first + 2s);
  REQUIRE(starts.size() == 3);
  CHECK(starts[2] == first + 2s);
  (*pending)(true);
  // An early run far from the next grid point keeps that point.
  h.run_until(first + 2s + 100ms);
  h.scheduler.run_soon(kKey);
  h.run_until(first + 2s + 101ms);
  REQUIRE(starts.size() == 4);
  (*pending)(true);
  h.run_until(first + 3s);
  CHECK(starts.size() == 5);
}

TEST_CASE("run_soon runs at the next advance and then returns to the rhythm") {
  Harness h;
  std::vector<Clock::time_point> starts;
  std::optional<Scheduler::Done> pending;
  h.scheduler.add(kKey, 10s, [&](Scheduler::Done done) {
    starts.push_back(h.now);
    pending = std::move(done);
  });
  const auto first = h.start + Scheduler::splay(kKey, 10s);
  h.run_until(first);
  REQUIRE(starts.size() == 1);

  h.scheduler.run_soon(kKey);  // in flight: no-op
  h.run_until(first + 2s);
  CHECK(starts.size() == 1);
  (*pending)(false);  // say the connection was lost: re-probe at once

  h.scheduler.run_soon(kKey);
  h.scheduler.run_soon({"db9", "unknown"});  // unknown key: no-op
  CHECK(h.scheduler.next_due() == first + 2s);
  h.jump_to(first + 2s + 1ms);
  REQUIRE(starts.size() == 2);
  CHECK(starts[1] == first + 2s + 1ms);
  (*pending)(true);

  // Back on the grid of the first run.
  h.jump_to(first + 9999ms);
  CHECK(starts.size() == 2);
  h.jump_to(first + 10s);
  REQUIRE(starts.size() == 3);
  (*pending)(true);
  h.jump_to(first + 20s);
  REQUIRE(starts.size() == 4);
  (*pending)(true);
  CHECK(value_of(h.scheduler, "pgvigil_probe_skipped_total", kKey) == 0.0);
}

TEST_CASE("run_soon outside advance tells the listener, inside advance it does not") {
  Harness h;
  int told = 0;
  h.scheduler.on_early_run([&told] { ++told; });
  const JobKey other{"db1", "locks"};
  h.scheduler.add(other, 10s, [](const Scheduler::Done& done) { done(true); });
  // A job that asks for another's early run while the scheduler advances.
  h.scheduler.add(kKey, 10s, [&](const Scheduler::Done& done) {
    h.scheduler.run_soon(other);
    done(true);
  });
  CHECK(h.scheduler.run_soon(kKey));  // from outside: the listener hears it
  CHECK(told == 1);
  h.jump_to(h.start + 1ms);  // kKey runs and makes `other` due: nobody is told
  CHECK(told == 1);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 1.0);
  CHECK_FALSE(h.scheduler.run_soon({"db9", "unknown"}));  // a no-op tells nobody
  CHECK(told == 1);
  h.scheduler.on_early_run(nullptr);
  CHECK(h.scheduler.run_soon(kKey));
  CHECK(told == 1);
}

TEST_CASE("add replaces an existing job and keeps its series") {
  Harness h;
  int old_runs = 0;
  int new_runs = 0;
  h.scheduler.add(kKey, 1s, [&](const Scheduler::Done& done) {
    ++old_runs;
    done(true);
  });
  h.run_until(h.start + 3s);
  CHECK(old_runs == 3);
  h.scheduler.add(kKey, 2s, [&](const Scheduler::Done& done) {
    ++new_runs;
    done(true);
  });
  CHECK(h.scheduler.job_count() == 1);
  h.run_until(h.now + 6s);
  CHECK(old_runs == 3);
  CHECK(new_runs == 3);
  CHECK(value_of(h.scheduler, "pgvigil_probe_runs_total", kKey) == 6.0);
}

TEST_CASE("a job may remove itself while it runs") {
  Harness h;
  int runs = 0;
  h.scheduler.add(kKey, 1s, [&](const Scheduler::Done& done) {
    ++runs;
    h.scheduler.remove(kKey);
    done(true);
  });
  h.run_until(h.start + 5s);
  CHECK(runs == 1);
  CHECK(h.scheduler.job_count() == 0);
  CHECK_FALSE(h.scheduler.next_due());
}

TEST_CASE("bad jobs are refused with clear errors") {
  Harness h;
  const auto noop = [](const Scheduler::Done& done) { done(true); };
  CHECK_THROWS_AS(h.scheduler.add({"", "activity"}, 1s, noop), std::invalid_argument);
  CHECK_THROWS_AS(h.scheduler.add({"db1", ""}, 1s, noop), std::invalid_argument);
  CHECK_THROWS_AS(h.scheduler.add(kKey, 0s, noop), std::invalid_argument);
  CHECK_THROWS_AS(h.scheduler.add(kKey, -1s, noop), std::invalid_argument);
  CHECK_THROWS_AS(h.scheduler.add(kKey, 1s, {}), std::invalid_argument);
  CHECK(h.scheduler.job_count() == 0);
}

TEST_CASE("time handed to advance never runs backwards") {
  Harness h;
  h.scheduler.advance(h.start + 5s);
  h.scheduler.advance(h.start + 2s);
  CHECK(h.scheduler.last_advance() == h.start + 5s);
}

TEST_CASE("probe values by target: what the alert rules read, equal to the exposed series") {
  Harness h;
  std::vector<Clock::time_point> starts;
  h.scheduler.add(kKey, 10s, recording_job(starts, h));
  h.scheduler.add({"db1", "locks"}, 10s, recording_job(starts, h, false));
  h.scheduler.add({"db2", "activity"}, 10s, recording_job(starts, h));
  h.scheduler.run_soon(kKey);
  h.scheduler.run_soon({"db1", "locks"});
  h.scheduler.run_soon({"db2", "activity"});
  h.run_until(h.now + 1ms);
  REQUIRE(starts.size() == 3);

  const auto successes =
      h.scheduler.probe_values("db1", "pgvigil_probe_last_success_timestamp_seconds");
  REQUIRE(successes.size() == 1);  // locks never succeeded: no sample, as in /metrics
  CHECK(successes[0].first == "activity");
  CHECK(successes[0].second ==
        value_of(h.scheduler, "pgvigil_probe_last_success_timestamp_seconds", kKey));
  const auto failures = h.scheduler.probe_values("db1", "pgvigil_probe_failures_total");
  REQUIRE(failures.size() == 2);
  CHECK(failures[0] == std::pair<std::string, double>{"activity", 0});
  CHECK(failures[1] == std::pair<std::string, double>{"locks", 1});
  CHECK(h.scheduler.probe_values("db1", "pgvigil_probe_runs_total").size() == 2);
  CHECK(h.scheduler.probe_values("db3", "pgvigil_probe_runs_total").empty());
  CHECK(h.scheduler.probe_values("db1", "pgvigil_probe_no_such_metric").empty());
}

TEST_CASE("the job table's text is what prometheus-cpp serialises from Collect()") {
  Harness h;
  // Label values the format must escape, a failing job (no last success)
  // and a skipped run.
  h.scheduler.add({"db \"quoted\"\\path\nline", "activity"}, 1s,
                  [](const Scheduler::Done& done) { done(true); });
  h.scheduler.add({"db2", "locks"}, 1s, [](const Scheduler::Done& done) { done(false); });
  std::vector<Scheduler::Done> held;
  h.scheduler.add({"db2", "slow"}, 1s,
                  [&](Scheduler::Done done) { held.push_back(std::move(done)); });
  h.run_until(h.start + 3s);
  std::string text;
  h.scheduler.write_text(text);
  CHECK(text == prometheus::TextSerializer().Serialize(h.scheduler.Collect()));
  const auto skipped = value_of(h.scheduler, "pgvigil_probe_skipped_total", {"db2", "slow"});
  REQUIRE(skipped.has_value());
  CHECK(*skipped >= 1.0);
  CHECK(text.find("pgvigil_probe_skipped_total{target=\"db2\",probe=\"slow\"} " +
                  std::to_string(static_cast<int>(*skipped)) + "\n") != std::string::npos);
  CHECK(text.find("pgvigil_probe_last_success_timestamp_seconds{target=\"db2\",probe=\"locks\"}") ==
        std::string::npos);
  CHECK(text.find("target=\"db \\\"quoted\\\"\\\\path\\nline\"") != std::string::npos);
}
