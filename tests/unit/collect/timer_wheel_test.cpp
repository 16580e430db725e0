#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "collect/timer_wheel.hpp"

using namespace std::chrono_literals;
using pgvigil::collect::TimerId;

namespace {

// The wheel never reads a clock; it only needs the types.
using Clock = std::chrono::steady_clock;
using Wheel = pgvigil::collect::TimerWheel<Clock>;
const Clock::time_point t0 = Clock::time_point{} + 1000h;

}  // namespace

TEST_CASE("timer wheel rejects a zero tick, zero slots and empty callbacks") {
  CHECK_THROWS_AS(Wheel(0ms, 8, t0), std::invalid_argument);
  CHECK_THROWS_AS(Wheel(10ms, 0, t0), std::invalid_argument);
  Wheel wheel(10ms, 8, t0);
  CHECK_THROWS_AS(wheel.schedule(t0 + 5ms, {}), std::invalid_argument);
  CHECK(wheel.size() == 0);
}

TEST_CASE("a timer fires once its due time is reached, not before") {
  Wheel wheel(10ms, 8, t0);
  int fired = 0;
  wheel.schedule(t0 + 35ms, [&] { ++fired; });
  CHECK(wheel.size() == 1);
  CHECK(wheel.advance(t0 + 20ms) == 0);
  // Same tick as the due time but still earlier: exact times decide.
  CHECK(wheel.advance(t0 + 34ms) == 0);
  CHECK(fired == 0);
  CHECK(wheel.advance(t0 + 35ms) == 1);
  CHECK(fired == 1);
  CHECK(wheel.size() == 0);
  CHECK(wheel.advance(t0 + 1s) == 0);
  CHECK(fired == 1);
}

TEST_CASE("cancel stops a pending timer and reports whether it was pending") {
  Wheel wheel(10ms, 8, t0);
  int fired = 0;
  const TimerId a = wheel.schedule(t0 + 15ms, [&] { ++fired; });
  const TimerId b = wheel.schedule(t0 + 25ms, [&] { fired += 10; });
  CHECK(wheel.cancel(a));
  CHECK_FALSE(wheel.cancel(a));  // already cancelled
  CHECK(wheel.size() == 1);
  CHECK(wheel.advance(t0 + 100ms) == 1);
  CHECK(fired == 10);
  CHECK_FALSE(wheel.cancel(b));  // already fired
  CHECK_FALSE(wheel.cancel(TimerId{}));
  CHECK_FALSE(wheel.cancel(TimerId{12345}));
}

TEST_CASE("timers fire in due order, ties in schedule order, across slots") {
  Wheel wheel(10ms, 4, t0);
  std::vector<std::string> order;
  wheel.schedule(t0 + 37ms, [&] { order.push_back("37"); });
  wheel.schedule(t0 + 5ms, [&] { order.push_back("5"); });
  wheel.schedule(t0 + 21ms, [&] { order.push_back("21a"); });
  wheel.schedule(t0 + 21ms, [&] { order.push_back("21b"); });
  wheel.schedule(t0 + 29ms, [&] { order.push_back("29"); });
  wheel.schedule(t0 + 21ms, [&] { order.push_back("21c"); });
  // One big jump over several slots still fires strictly by due time.
  CHECK(wheel.advance(t0 + 40ms) == 6);
  CHECK(order == std::vector<std::string>{"5", "21a", "21b", "21c", "29", "37"});
}

TEST_CASE("many timers in one slot fire together and keep their order") {
  Wheel wheel(10ms, 8, t0);
  std::vector<int> order;
  // All land in the same tick (and slot), scheduled in reverse due order.
  for (int i = 9; i >= 0; --i) {
    wheel.schedule(t0 + 50ms + std::chrono::microseconds(i * 100),
                   [&order, i] { order.push_back(i); });
  }
  // Timers of later rotations that hash into the same slot must stay put.
  int later = 0;
  wheel.schedule(t0 + 50ms + 80ms, [&] { ++later; });
  wheel.schedule(t0 + 50ms + 160ms, [&] { ++later; });
  CHECK(wheel.size() == 12);
  CHECK(wheel.advance(t0 + 60ms) == 10);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(later == 0);
  CHECK(wheel.size() == 2);
  CHECK(wheel.advance(t0 + 130ms) == 1);
  CHECK(wheel.advance(t0 + 210ms) == 1);
  CHECK(later == 2);
}

TEST_CASE("long delays that wrap the wheel several times fire on time") {
  Wheel wheel(10ms, 8, t0);  // one rotation is 80 ms
  std::vector<int> fired_at;
  Clock::time_point now = t0;
  wheel.schedule(t0 + 1005ms, [&] { fired_at.push_back(1005); });  // ~12.5 rotations
  wheel.schedule(t0 + 405ms, [&] { fired_at.push_back(405); });
  // Step tick by tick so every slot is visited many times before the due time.
  while (now < t0 + 1100ms) {
    now += 10ms;
    wheel.advance(now);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count();
    if (elapsed < 405) CHECK(fired_at.empty());
    if (elapsed >= 410 && elapsed < 1005) CHECK(fired_at == std::vector<int>{405});
  }
  CHECK(fired_at == std::vector<int>{405, 1005});
}

TEST_CASE("a jump much longer than a rotation fires everything due exactly once") {
  Wheel wheel(10ms, 8, t0);
  int fired = 0;
  for (int i = 0; i < 100; ++i)
    wheel.schedule(t0 + std::chrono::milliseconds(i * 37), [&] { ++fired; });
  CHECK(wheel.advance(t0 + 1850ms) == 51);  // due times 0..1850 step 37
  CHECK(fired == 51);
  CHECK(wheel.advance(t0 + 10s) == 49);
  CHECK(fired == 100);
  CHECK(wheel.size() == 0);
}

TEST_CASE("a timer due in the past fires at the next advance") {
  Wheel wheel(10ms, 8, t0);
  wheel.advance(t0 + 500ms);
  int fired = 0;
  wheel.schedule(t0 + 100ms, [&] { ++fired; });  // before the last advance
  wheel.schedule(t0 - 1h, [&] { ++fired; });     // before the wheel's start
  CHECK(wheel.next_due() == t0 - 1h);
  // Even an advance to an earlier time than before (time never runs backwards).
  CHECK(wheel.advance(t0 + 400ms) == 2);
  CHECK(fired == 2);
}

TEST_CASE("next_due is the exact earliest pending time") {
  Wheel wheel(10ms, 8, t0);
  CHECK_FALSE(wheel.next_due().has_value());
  const TimerId far = wheel.schedule(t0 + 10s, [] {});  // many rotations ahead
  CHECK(wheel.next_due() == t0 + 10s);
  const TimerId soon = wheel.schedule(t0 + 123ms, [] {});
  wheel.schedule(t0 + 127ms, [] {});
  CHECK(wheel.next_due() == t0 + 123ms);
  wheel.cancel(soon);
  CHECK(wheel.next_due() == t0 + 127ms);
  wheel.advance(t0 + 130ms);
  CHECK(wheel.next_due() == t0 + 10s);
  wheel.cancel(far);
  CHECK_FALSE(wheel.next_due().has_value());
}

TEST_CASE("callbacks may cancel, schedule and re-schedule") {
  Wheel wheel(10ms, 8, t0);
  std::vector<std::string> log;
  TimerId victim;
  wheel.schedule(t0 + 10ms, [&] {
    log.push_back("first");
    CHECK(wheel.cancel(victim));  // due in the same advance, not fired yet
  });
  victim = wheel.schedule(t0 + 20ms, [&] { log.push_back("victim"); });
  CHECK(wheel.advance(t0 + 30ms) == 1);
  CHECK(log == std::vector<std::string>{"first"});

  // A periodic timer that re-arms itself from its own callback.
  int ticks = 0;
  std::function<void()> periodic;
  Clock::time_point next = t0 + 50ms;
  periodic = [&] {
    ++ticks;
    next += 50ms;
    wheel.schedule(next, periodic);
  };
  wheel.schedule(next, periodic);
  for (auto now = t0 + 30ms; now <= t0 + 530ms; now += 10ms) wheel.advance(now);
  CHECK(ticks == 10);  // 50, 100, ..., 500
  CHECK(wheel.size() == 1);
  CHECK(wheel.next_due() == t0 + 550ms);
}

TEST_CASE("a timer scheduled as due inside a callback waits for the next advance") {
  Wheel wheel(10ms, 8, t0);
  int runs = 0;
  std::function<void()> rearm_now;
  // A callback that keeps scheduling itself "now" must not loop forever.
  rearm_now = [&] {
    ++runs;
    wheel.schedule(t0, rearm_now);
  };
  wheel.schedule(t0 + 10ms, rearm_now);
  CHECK(wheel.advance(t0 + 20ms) == 1);
  CHECK(runs == 1);
  CHECK(wheel.next_due() == t0);
  CHECK(wheel.advance(t0 + 20ms) == 1);
  CHECK(wheel.advance(t0 + 20ms) == 1);
  CHECK(runs == 3);
}

TEST_CASE("advance from inside a callback is ignored") {
  Wheel wheel(10ms, 8, t0);
  std::size_t nested = 99;
  int other = 0;
  wheel.schedule(t0 + 10ms, [&] { nested = wheel.advance(t0 + 1s); });
  wheel.schedule(t0 + 500ms, [&] { ++other; });
  CHECK(wheel.advance(t0 + 10ms) == 1);
  CHECK(nested == 0);
  CHECK(other == 0);
}

TEST_CASE("timer ids are never reused") {
  Wheel wheel(10ms, 2, t0);
  std::vector<TimerId> ids;
  for (int round = 0; round < 50; ++round) {
    const TimerId id = wheel.schedule(t0 + std::chrono::milliseconds(round), [] {});
    if (round % 2 == 0) wheel.cancel(id);
    wheel.advance(t0 + std::chrono::milliseconds(round));
    ids.push_back(id);
  }
  for (std::size_t i = 1; i < ids.size(); ++i) CHECK(ids[i - 1] < ids[i]);
  CHECK(ids.front() != TimerId{});
}
