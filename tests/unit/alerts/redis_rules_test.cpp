// The Redis rules that read rates (RedisEvicting, RedisHitRatioLow), evaluated
// over a hand-filled source with a manual clock: the daemon's twins of the
// promtool cases in alerts/tests/redis.yml.
#include <doctest/doctest.h>

#include "alerts/evaluator.hpp"
#include "fake_source.hpp"

using namespace pgvigil;
using namespace pgvigil::alerts;
using namespace std::chrono_literals;
using pgvigil::alerts::test::FakeSource;

namespace {

const Clock::time_point kStart = Clock::time_point(std::chrono::seconds(1'800'000'000));

struct Fixture {
  FakeSource source;
  config::TargetConfig config;
  Evaluator evaluator{[](const std::string&) {}};

  Fixture() { config.name = "cache"; }
  void run(Clock::time_point now) {
    TargetFacts facts;
    facts.name = "cache";
    facts.up = true;
    facts.reason = "none";
    facts.config = &config;
    evaluator.evaluate(source, {facts}, now);
  }
  const Alert* firing(std::string_view rule) const {
    for (const auto* alert : evaluator.alerts())
      if (alert->rule == rule && alert->state == AlertState::firing) return alert;
    return nullptr;
  }
};

}  // namespace

TEST_CASE("RedisEvicting: 20 keys/s for the window and its for fires, a restart starts over") {
  Fixture f;
  double evicted = 0;
  auto now = kStart;
  // Every 15 s for 4 minutes: half the 5-minute window gives a rate at 2.5m,
  // so the 5-minute `for` has not passed yet.
  for (int i = 0; i <= 16; ++i, now += 15s, evicted += 300) {
    f.source.set("cache", "redis_evicted_keys_total", {}, evicted);
    f.run(now);
  }
  CHECK(f.firing("RedisEvicting") == nullptr);
  for (int i = 0; i < 24; ++i, now += 15s, evicted += 300) {
    f.source.set("cache", "redis_evicted_keys_total", {}, evicted);
    f.run(now);
  }
  const auto* alert = f.firing("RedisEvicting");
  REQUIRE(alert != nullptr);
  CHECK(alert->value == doctest::Approx(20.0).epsilon(0.01));
  CHECK(alert->evidence.find("evicted keys: 20/s over the last 5m") != std::string::npos);

  // The server restarted: the counter is back near 0. Its history before
  // says nothing, and no rate is judged until half a window has passed.
  f.source.set("cache", "redis_evicted_keys_total", {}, 5);
  f.run(now);
  CHECK(f.firing("RedisEvicting") == nullptr);
}

TEST_CASE("RedisEvicting: a steady low rate does not fire") {
  Fixture f;
  auto now = kStart;
  for (int i = 0; i <= 60; ++i, now += 15s) {  // 2 keys/s for 15 minutes
    f.source.set("cache", "redis_evicted_keys_total", {}, 30.0 * i);
    f.run(now);
  }
  CHECK(f.firing("RedisEvicting") == nullptr);
}

TEST_CASE("RedisHitRatioLow: misses winning on a busy cache fire, a quiet cache does not") {
  Fixture f;
  auto now = kStart;
  SUBCASE("busy: 10 hits/s, 30 misses/s") {
    for (int i = 0; i <= 40; ++i, now += 15s) {
      f.source.set("cache", "redis_keyspace_hits_total", {}, 150.0 * i);
      f.source.set("cache", "redis_keyspace_misses_total", {}, 450.0 * i);
      f.source.set("cache", "redis_uptime_in_seconds", {}, 86400.0 + 15.0 * i);
      f.run(now);
    }
    const auto* alert = f.firing("RedisHitRatioLow");
    REQUIRE(alert != nullptr);
    CHECK(alert->value == doctest::Approx(0.25).epsilon(0.01));
    CHECK(alert->evidence.find("hits: 10/s\nmisses: 30/s") != std::string::npos);
    CHECK(alert->evidence.find("uptime: ") != std::string::npos);
  }
  SUBCASE("quiet: 1 hit/s, 3 misses/s, below min_lookups") {
    for (int i = 0; i <= 40; ++i, now += 15s) {
      f.source.set("cache", "redis_keyspace_hits_total", {}, 15.0 * i);
      f.source.set("cache", "redis_keyspace_misses_total", {}, 45.0 * i);
      f.run(now);
    }
    CHECK(f.firing("RedisHitRatioLow") == nullptr);
  }
  SUBCASE("busy with a good ratio: 35 hits/s, 5 misses/s") {
    for (int i = 0; i <= 40; ++i, now += 15s) {
      f.source.set("cache", "redis_keyspace_hits_total", {}, 525.0 * i);
      f.source.set("cache", "redis_keyspace_misses_total", {}, 75.0 * i);
      f.run(now);
    }
    CHECK(f.firing("RedisHitRatioLow") == nullptr);
  }
}
