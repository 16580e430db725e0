// The restart, crash and host-detection rules, evaluated over a hand-filled
// source with a manual clock.
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

  Fixture() { config.name = "db1"; }
  void run(Clock::time_point now, bool up = true) {
    TargetFacts facts;
    facts.name = "db1";
    facts.up = up;
    facts.reason = up ? "none" : "refused";
    facts.config = &config;
    evaluator.evaluate(source, {facts}, now);
  }
  // The alerts of `rule` in `state` with `severity` (any severity when empty).
  std::vector<const Alert*> of(std::string_view rule, AlertState state = AlertState::firing,
                               std::string_view severity = {}) const {
    std::vector<const Alert*> out;
    for (const auto* alert : evaluator.alerts()) {
      if (alert->rule != rule || alert->state != state) continue;
      if (!severity.empty() && alert->severity != severity) continue;
      out.push_back(alert);
    }
    return out;
  }
};

void set_log_class(FakeSource& source, const std::string& klass, double count) {
  source.set("db1", "pg_log_messages_total", {{"severity", "LOG"}, {"class", klass}}, count);
  source.set("db1", "pg_log_messages_total", {{"severity", "ERROR"}, {"class", klass}}, 0);
}

}  // namespace

TEST_CASE("restarted: a new postmaster start time fires a warning for the window") {
  Fixture f;
  f.source.set("db1", "pg_postmaster_start_time_seconds", {}, 1'799'990'000);
  f.run(kStart);
  CHECK(f.of("PostgresRestarted").empty());  // the first value is a baseline
  f.run(kStart + 10s);
  CHECK(f.of("PostgresRestarted").empty());
  // Down for a while (no sample), then back with a new start time.
  f.source.clear("db1", "pg_postmaster_start_time_seconds");
  f.run(kStart + 20s, false);
  CHECK(f.of("PostgresRestarted").empty());
  f.source.set("db1", "pg_postmaster_start_time_seconds", {}, 1'800'000'025);
  f.run(kStart + 30s);
  auto warning = f.of("PostgresRestarted", AlertState::firing, "warning");
  REQUIRE(warning.size() == 1);
  CHECK(warning[0]->value == 1);
  CHECK(warning[0]->evidence.find("restarts within 15m: 1") != std::string::npos);
  CHECK(warning[0]->evidence.find("before: 2027-01-15 05:13:20 UTC") != std::string::npos);
  CHECK(warning[0]->evidence.find("now: 2027-01-15 08:00:25 UTC") != std::string::npos);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").empty());
  f.run(kStart + 30s + 900s);
  CHECK(f.of("PostgresRestarted", AlertState::firing).size() == 1);
  f.run(kStart + 31s + 900s);
  CHECK(f.of("PostgresRestarted", AlertState::firing).empty());
  CHECK(f.of("PostgresRestarted", AlertState::resolved).size() == 1);
}

TEST_CASE("restarted: three restarts within the window are a crash loop, also while down") {
  Fixture f;
  double start = 1'799'990'000;
  f.source.set("db1", "pg_postmaster_start_time_seconds", {}, start);
  f.run(kStart);
  for (int i = 1; i <= 3; ++i) {
    f.source.clear("db1", "pg_postmaster_start_time_seconds");
    f.run(kStart + i * 60s - 30s, false);
    f.source.set("db1", "pg_postmaster_start_time_seconds", {}, start + i * 60);
    f.run(kStart + i * 60s);
  }
  auto critical = f.of("PostgresRestarted", AlertState::firing, "critical");
  REQUIRE(critical.size() == 1);
  CHECK(critical[0]->value == 3);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "warning").size() == 1);
  // Down again: the restarts already seen still count.
  f.source.clear("db1", "pg_postmaster_start_time_seconds");
  f.run(kStart + 240s, false);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").size() == 1);
  // Once the first restart leaves the window, two remain: warning only.
  f.run(kStart + 60s + 901s, false);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").empty());
  CHECK(f.of("PostgresRestarted", AlertState::firing, "warning").size() == 1);
}

TEST_CASE("crashed: new crash-class log messages fire at once and resolve after the window") {
  Fixture f;
  set_log_class(f.source, "crash", 4);  // read before pgvigil looked: a baseline
  set_log_class(f.source, "fatal", 0);
  f.source.set_evidence("db1", "logs.last.crash",
                        "LOG:  all server processes terminated; reinitializing");
  f.run(kStart);
  CHECK(f.of("PostgresCrashed").empty());
  set_log_class(f.source, "fatal", 7);  // another class rising is not a crash
  f.run(kStart + 1s);
  CHECK(f.of("PostgresCrashed").empty());
  set_log_class(f.source, "crash", 8);
  f.run(kStart + 2s);
  auto crashed = f.of("PostgresCrashed");
  REQUIRE(crashed.size() == 1);
  CHECK(crashed[0]->evidence.find("reinitializing") != std::string::npos);
  f.run(kStart + 2s + 900s);
  CHECK(f.of("PostgresCrashed").size() == 1);
  f.run(kStart + 3s + 900s);
  CHECK(f.of("PostgresCrashed").empty());
}
