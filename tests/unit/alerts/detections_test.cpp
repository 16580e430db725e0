// The restart, crash, host, workload and identity rules, evaluated over a hand-filled
// source with a manual clock.
#include <doctest/doctest.h>

#include <algorithm>

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

TEST_CASE("restarted: a counted restart fires a warning for the window") {
  Fixture f;
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 0);
  f.source.set_evidence("db1", "server.restart",
                        "postmaster start time before: 2027-01-15 05:13:20 UTC\n");
  f.run(kStart);
  CHECK(f.of("PostgresRestarted").empty());
  f.run(kStart + 10s, false);  // down: the counter is still there
  CHECK(f.of("PostgresRestarted").empty());
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 1);
  f.run(kStart + 30s);
  auto warning = f.of("PostgresRestarted", AlertState::firing, "warning");
  REQUIRE(warning.size() == 1);
  CHECK(warning[0]->value == 1);
  CHECK(warning[0]->evidence.find("restarts within 15m: 1") != std::string::npos);
  CHECK(warning[0]->evidence.find("before: 2027-01-15 05:13:20 UTC") != std::string::npos);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").empty());
  f.run(kStart + 30s + 900s);
  CHECK(f.of("PostgresRestarted", AlertState::firing).size() == 1);
  f.run(kStart + 31s + 900s);
  CHECK(f.of("PostgresRestarted", AlertState::firing).empty());
  CHECK(f.of("PostgresRestarted", AlertState::resolved).size() == 1);
}

TEST_CASE("restarted: three restarts within the window are a crash loop") {
  Fixture f;
  // Two restarts between two evaluations still count as two.
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 2);
  f.run(kStart);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "warning").size() == 1);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").empty());
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 3);
  f.run(kStart + 60s, false);
  auto critical = f.of("PostgresRestarted", AlertState::firing, "critical");
  REQUIRE(critical.size() == 1);
  CHECK(critical[0]->value == 3);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "warning").size() == 1);
  // Once the first two leave the window, one remains: warning only.
  f.run(kStart + 901s, false);
  CHECK(f.of("PostgresRestarted", AlertState::firing, "critical").empty());
  CHECK(f.of("PostgresRestarted", AlertState::firing, "warning").size() == 1);
  f.run(kStart + 961s);
  CHECK(f.of("PostgresRestarted", AlertState::firing).empty());
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

TEST_CASE("inodes: warning below 10 %, critical below 5 %, filesystems without a count ignored") {
  Fixture f;
  f.config.rules["PostgresInodesLow"].for_duration = 0s;
  const Labels data{{"path", "/var/lib/postgresql/15/main"}, {"mountpoint", "/"}, {"role", "data"}};
  const Labels wal{{"path", "/srv/pg_wal"}, {"mountpoint", "/srv"}, {"role", "wal"}};
  f.source.set("db1", "pg_filesystem_files", data, 1000);
  f.source.set("db1", "pg_filesystem_files_free", data, 120);
  f.source.set("db1", "pg_filesystem_files", wal, 0);  // btrfs reports no inodes
  f.source.set("db1", "pg_filesystem_files_free", wal, 0);
  f.run(kStart);
  CHECK(f.of("PostgresInodesLow").empty());
  f.source.set("db1", "pg_filesystem_files_free", data, 80);
  f.run(kStart + 1s);
  auto warning = f.of("PostgresInodesLow", AlertState::firing, "warning");
  REQUIRE(warning.size() == 1);
  CHECK(warning[0]->value == doctest::Approx(0.08));
  CHECK(warning[0]->evidence.find("80 of 1000 inodes free on /") != std::string::npos);
  CHECK(f.of("PostgresInodesLow", AlertState::firing, "critical").empty());
  f.source.set("db1", "pg_filesystem_files_free", data, 40);
  f.run(kStart + 2s);
  CHECK(f.of("PostgresInodesLow", AlertState::firing, "critical").size() == 1);
  CHECK(f.of("PostgresInodesLow", AlertState::firing).size() == 2);
}

TEST_CASE("data directory permissions, pending restart: plain conditions with their `for`") {
  Fixture f;
  f.source.set("db1", "pg_datadir_ownership_ok", {}, 0);
  f.source.set_evidence("db1", "datadir.ownership", "owner uid 0 (root), mode 0755\n");
  f.source.set("db1", "pg_settings_pending_restart_count", {}, 2);
  f.source.set_evidence("db1", "settings.pending_restart", "max_connections\nshared_buffers\n");
  f.run(kStart);
  CHECK(f.of("PostgresDataDirectoryPermissions", AlertState::pending).size() == 1);
  CHECK(f.of("PostgresPendingRestart", AlertState::pending).size() == 1);
  f.run(kStart + 60s);
  auto datadir = f.of("PostgresDataDirectoryPermissions");
  REQUIRE(datadir.size() == 1);
  CHECK(datadir[0]->evidence.find("mode 0755") != std::string::npos);
  CHECK(f.of("PostgresPendingRestart").empty());
  f.run(kStart + 3600s);
  auto pending = f.of("PostgresPendingRestart");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]->value == 2);
  CHECK(pending[0]->evidence.find("shared_buffers") != std::string::npos);
}

TEST_CASE("deadlocks per database, out of memory from the log, system identifier changes") {
  Fixture f;
  const Labels app{{"datid", "16384"}, {"datname", "app"}};
  const Labels other{{"datid", "5"}, {"datname", "postgres"}};
  f.source.set("db1", "pg_stat_database_deadlocks", app, 2);
  f.source.set("db1", "pg_stat_database_deadlocks", other, 9);
  set_log_class(f.source, "out_of_memory", 0);
  f.source.set("db1", "pg_system_identifier_changes_total", {}, 0);
  f.run(kStart);
  CHECK(f.of("PostgresDeadlocks").empty());
  CHECK(f.of("PostgresOutOfMemory").empty());
  CHECK(f.of("PostgresSystemIdentifierChanged").empty());
  f.source.set("db1", "pg_stat_database_deadlocks", app, 3);
  set_log_class(f.source, "out_of_memory", 1);
  f.source.set("db1", "pg_system_identifier_changes_total", {}, 1);
  f.run(kStart + 1s);
  auto deadlocks = f.of("PostgresDeadlocks");
  REQUIRE(deadlocks.size() == 1);
  CHECK(std::count(deadlocks[0]->labels.begin(), deadlocks[0]->labels.end(),
                   std::pair<std::string, std::string>{"datname", "app"}) == 1);
  CHECK(f.of("PostgresOutOfMemory").size() == 1);
  CHECK(f.of("PostgresSystemIdentifierChanged").size() == 1);
  f.run(kStart + 1s + 300s);
  CHECK(f.of("PostgresDeadlocks").size() == 1);
  f.run(kStart + 2s + 300s);
  CHECK(f.of("PostgresDeadlocks").empty());
  CHECK(f.of("PostgresOutOfMemory").size() == 1);  // 15m window
  f.run(kStart + 2s + 900s);
  CHECK(f.of("PostgresOutOfMemory").empty());
  CHECK(f.of("PostgresSystemIdentifierChanged").size() == 1);  // 1h window
  f.run(kStart + 2s + 3600s);
  CHECK(f.of("PostgresSystemIdentifierChanged").empty());
}
