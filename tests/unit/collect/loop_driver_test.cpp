#include <doctest/doctest.h>
#include <prometheus/collectable.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "collect/loop_driver.hpp"
#include "collect/scheduler.hpp"

using namespace std::chrono_literals;
using pgvigil::collect::JobKey;
using pgvigil::collect::LoopDriver;
using pgvigil::collect::LoopDriverOptions;
using pgvigil::collect::Scheduler;

namespace {

using Clock = std::chrono::steady_clock;

double counter(const prometheus::Collectable& metrics, const std::string& name, const JobKey& key) {
  for (const auto& family : metrics.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      int matched = 0;
      for (const auto& label : metric.label) {
        if ((label.name == "target" && label.value == key.target) ||
            (label.name == "probe" && label.value == key.probe)) {
          ++matched;
        }
      }
      if (matched == 2) return metric.counter.value;
    }
  }
  return -1;
}

// A scheduler on the real clocks, as the daemon builds it.
struct RealTime {
  boost::asio::io_context io;
  Scheduler scheduler{Clock::now(), [] { return std::chrono::system_clock::now(); }};
};

}  // namespace

TEST_CASE("the loop runs jobs at their interval on a real io_context") {
  RealTime rt;
  std::map<std::string, int> runs;
  for (const char* target : {"a", "b", "c"}) {
    rt.scheduler.add({target, "activity"}, 50ms, [&runs, target](const Scheduler::Done& done) {
      ++runs[target];
      done(true);
    });
  }
  LoopDriver driver(rt.io, rt.scheduler);
  driver.start();
  CHECK(driver.running());
  rt.io.run_for(500ms);

  // About 10 runs each; loose bounds so a busy machine does not fail the test,
  // and an upper bound that catches a burst or a double schedule.
  for (const auto& [target, count] : runs) {
    CAPTURE(target);
    CHECK(count >= 4);
    CHECK(count <= 11);
    CHECK(counter(rt.scheduler, "pgvigil_probe_runs_total", {target, "activity"}) == count);
  }
  CHECK(runs.size() == 3);
  // It slept until the next due time instead of spinning.
  CHECK(driver.wakes() >= 10);
  CHECK(driver.wakes() <= 60);
  CHECK(driver.healthy(Clock::now(), 1s));
}

TEST_CASE("asynchronous runs that outlast the interval are skipped, not overlapped") {
  RealTime rt;
  const JobKey key{"slow", "statements"};
  int started = 0;
  int finished = 0;
  int max_in_flight = 0;
  int in_flight = 0;
  rt.scheduler.add(key, 40ms, [&](Scheduler::Done done) {
    ++started;
    max_in_flight = std::max(max_in_flight, ++in_flight);
    // Finishes 100 ms later, from the loop, like a query round would.
    auto timer = std::make_shared<boost::asio::steady_timer>(rt.io, 100ms);
    timer->async_wait([&, timer, done = std::move(done)](const boost::system::error_code&) {
      --in_flight;
      ++finished;
      done(true);
    });
  });
  LoopDriver driver(rt.io, rt.scheduler);
  driver.start();
  rt.io.run_for(450ms);
  driver.stop();
  rt.io.restart();
  rt.io.run_for(200ms);  // let the last run finish

  CHECK(max_in_flight == 1);
  CHECK(started >= 2);
  CHECK(started <= 5);
  CHECK(finished == started);
  CHECK(counter(rt.scheduler, "pgvigil_probe_skipped_total", key) >= 2);
  CHECK(counter(rt.scheduler, "pgvigil_probe_runs_total", key) == started);
}

TEST_CASE("wakes are rounded up to the coalescing grid: many jobs fire per wake") {
  // 40 jobs every 200 ms, spread over the interval by their splay: one wake
  // per job without a grid, one per 50 ms with it.
  auto run = [](Clock::duration coalesce) {
    RealTime rt;
    int runs = 0;
    for (int i = 0; i < 40; ++i)
      rt.scheduler.add({"db" + std::to_string(i), "liveness"}, 200ms,
                       [&runs](const Scheduler::Done& done) {
                         ++runs;
                         done(true);
                       });
    LoopDriverOptions options;
    options.coalesce = coalesce;
    LoopDriver driver(rt.io, rt.scheduler, options);
    driver.start();
    rt.io.run_for(600ms);
    return std::pair{runs, driver.wakes()};
  };
  const auto [grid_runs, grid_wakes] = run(50ms);
  CHECK(grid_runs >= 40);
  CHECK(grid_wakes <= 15);  // 600 ms / 50 ms + the first
  const auto [exact_runs, exact_wakes] = run(0ms);
  CHECK(exact_runs >= 40);
  CHECK(exact_wakes >= 30);
  LoopDriverOptions bad;
  bad.coalesce = -1ms;
  boost::asio::io_context io;
  Scheduler scheduler{Clock::now(), [] { return std::chrono::system_clock::now(); }};
  CHECK_THROWS_AS(LoopDriver(io, scheduler, bad), std::invalid_argument);
}

TEST_CASE("a run_soon from outside the loop's wake is advanced for at once") {
  // A job due in up to an hour and a driver that would sleep as long: only
  // the early-run wake can start it within the test.
  RealTime rt;
  const JobKey key{"db", "activity"};
  int runs = 0;
  rt.scheduler.add(key, 1h, [&runs](const Scheduler::Done& done) {
    ++runs;
    done(true);
  });
  LoopDriverOptions options;
  options.max_tick = 1h;
  LoopDriver driver(rt.io, rt.scheduler, options);
  driver.start();
  rt.io.run_for(30ms);
  REQUIRE(runs == 0);  // its phase is not now
  const auto wakes_before = driver.wakes();
  // As a session's connect completion would: a handler of its own, twice.
  boost::asio::post(rt.io, [&] {
    rt.scheduler.run_soon(key);
    rt.scheduler.run_soon({"db", "unknown"});
  });
  for (int i = 0; i < 100 && runs == 0; ++i) rt.io.run_for(20ms);
  CHECK(runs == 1);
  CHECK(driver.wakes() == wakes_before + 1);
  // Stopped, the driver no longer listens (nor is woken).
  driver.stop();
  CHECK(rt.scheduler.run_soon(key));
  rt.io.restart();
  rt.io.run_for(30ms);
  CHECK(runs == 1);
}

TEST_CASE("the heartbeat beats without jobs and healthy() sees a stall") {
  RealTime rt;
  LoopDriverOptions options;
  options.max_tick = 20ms;
  LoopDriver driver(rt.io, rt.scheduler, options);
  CHECK_FALSE(driver.healthy(Clock::now(), 1h));  // not started
  driver.start();
  const auto started = driver.last_heartbeat();
  rt.io.run_for(200ms);
  CHECK(driver.wakes() >= 3);
  CHECK(driver.wakes() <= 15);
  CHECK(driver.last_heartbeat() > started);
  CHECK(driver.healthy(Clock::now(), 500ms));
  CHECK(rt.scheduler.last_advance() >= driver.last_heartbeat());

  // Nobody runs the loop for a while: the heartbeat goes stale.
  std::this_thread::sleep_for(150ms);
  CHECK_FALSE(driver.healthy(Clock::now(), 100ms));
  CHECK(driver.healthy(Clock::now(), 10s));
}

TEST_CASE("stop() ends the wake-ups and start() resumes them") {
  RealTime rt;
  int runs = 0;
  rt.scheduler.add({"a", "activity"}, 20ms, [&runs](const Scheduler::Done& done) {
    ++runs;
    done(true);
  });
  LoopDriver driver(rt.io, rt.scheduler);
  driver.start();
  driver.start();  // idempotent: still one timer chain
  rt.io.run_for(200ms);
  CHECK(runs >= 3);
  CHECK(runs <= 11);

  driver.stop();
  driver.stop();
  CHECK_FALSE(driver.running());
  CHECK_FALSE(driver.healthy(Clock::now(), 1h));
  const int after_stop = runs;
  const auto wakes_after_stop = driver.wakes();
  rt.io.restart();
  rt.io.run_for(200ms);
  CHECK(runs == after_stop);
  CHECK(driver.wakes() == wakes_after_stop);
  CHECK(rt.io.stopped());  // nothing left to wait for

  driver.start();
  rt.io.restart();
  rt.io.run_for(200ms);
  CHECK(runs > after_stop);
}

TEST_CASE("a driver destroyed with a wait pending leaves the io_context safe") {
  RealTime rt;
  {
    LoopDriver driver(rt.io, rt.scheduler);
    driver.start();
    rt.io.run_for(30ms);
  }
  CHECK_NOTHROW(rt.io.run_for(50ms));
  LoopDriverOptions bad;
  bad.max_tick = 0ms;
  CHECK_THROWS_AS(LoopDriver(rt.io, rt.scheduler, bad), std::invalid_argument);
}
