// Runbook scenarios 12-16: data on disk (space, corruption, backups, vacuum)
// and the runbook's own verification query.
#include <doctest/doctest.h>
#include <sys/time.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::scenarios::contains;
using pgvigil::scenarios::rule_toml;
using pgvigil::scenarios::Scenario;
using pgvigil::scenarios::since;
using pgvigil::scenarios::SteadyClock;
using pgvigil::scenarios::target_toml;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::run_command;
using pgvigil::test::shell_quote;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

void wait_up(const DaemonProcess& daemon) {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 30s));
}

void set_mtime(const std::string& path, std::time_t when) {
  const timeval times[2] = {{when, 0}, {when, 0}};
  REQUIRE(::utimes(path.c_str(), times) == 0);
}

std::string format_ratio(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

}  // namespace

TEST_CASE("scenario 16: the runbook's verification query failing pages PostgresCustomCheckFailed") {
  Scenario scenario({16,
                     "Custom check: the key table's row count is 0 after a TRUNCATE",
                     "000 Scenario C step 4 (verify table count); 003 step 5 (verify integrity)",
                     "PostgresCustomCheckFailed (check=orders_present, severity=critical)",
                     "check interval 1m → 1s, expect \"> 0\", for 1m → 2s",
                     {"PostgresCustomCheckFailed"}});
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE TABLE orders (id int PRIMARY KEY)");
  admin.query("INSERT INTO orders SELECT generate_series(1, 100)");
  admin.query("GRANT SELECT ON orders TO pgvigil_monitor");
  DaemonProcess daemon(scenario.daemon_config(
      "", target_toml("db", cluster, cluster.primary_port(),
                      "[[target.check]]\nname = \"orders_present\"\n"
                      "sql = \"SELECT count(*) FROM orders\"\ninterval = \"1s\"\n"
                      "expect = \"> 0\"\nfor = \"2s\"\nseverity = \"critical\"\n")));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pgvigil_check_ok", {{"target", "db"}, {"check", "orders_present"}}) ==
               1.0;
      },
      20s));

  const auto truncated = SteadyClock::now();
  admin.query("TRUNCATE orders");
  const auto alert =
      scenario.detect("PostgresCustomCheckFailed", {{"target", "db"}, {"check", "orders_present"}},
                      truncated, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  INFO("evidence: " << alert.annotation("evidence"));
  CHECK(contains(alert.annotation("evidence"), "0"));

  const auto restored = SteadyClock::now();
  admin.query("INSERT INTO orders SELECT generate_series(1, 100)");
  scenario.resolve("PostgresCustomCheckFailed", {{"target", "db"}, {"check", "orders_present"}},
                   restored, 30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 14: an old newest backup pages PostgresBackupStale; a pg_dump resolves it") {
  Scenario scenario({14,
                     "Backup stale: the newest backup is older than max_age; a fresh pg_dump",
                     "000 check available backups / restore; 002 trigger a manual backup",
                     "PostgresBackupStale (glob=…/*.sql, severity=critical)",
                     "max_age 24h → 24s; PostgresBackupStale for 5m → 5s",
                     {"PostgresBackupStale"}});
  PgCluster cluster;
  const auto backups = pgvigil::test::make_temp_dir("pgvigil-scenario-backups");
  const std::string glob = backups + "/*.sql";
  const std::string first = backups + "/nightly-1.sql";
  pgvigil::test::write_file(first, "-- a dump\n");
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresBackupStale", {{"for", "\"5s\""}}),
      target_toml("db", cluster, cluster.primary_port(),
                  "[[target.backup]]\nglob = \"" + glob + "\"\nmax_age = \"24s\"\n")));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_backup_stale", {{"target", "db"}, {"glob", glob}}) == 0.0;
      },
      20s));

  // The nightly job stopped: its last file is now a day (scaled: 25 s) old.
  const auto aged = SteadyClock::now();
  set_mtime(first, std::time(nullptr) - 25);
  const auto alert = scenario.detect("PostgresBackupStale", {{"target", "db"}, {"glob", glob}},
                                     aged, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  INFO("evidence: " << alert.annotation("evidence"));
  CHECK(contains(alert.annotation("evidence"), "nightly-1.sql"));

  const auto dumped = SteadyClock::now();
  int exit_code = 0;
  const auto output = run_command("/usr/lib/postgresql/15/bin/pg_dump -d " +
                                      shell_quote(cluster.conninfo(cluster.primary_port())) +
                                      " -f " + shell_quote(backups + "/manual-2.sql") + " 2>&1",
                                  &exit_code);
  REQUIRE_MESSAGE(exit_code == 0, output);
  scenario.resolve("PostgresBackupStale", {{"target", "db"}, {"glob", glob}}, dumped, 30s,
                   daemon.log());
  scenario.check_no_unrelated_critical();
  std::error_code ignored;
  std::filesystem::remove_all(backups, ignored);
  scenario.passed();
}

TEST_CASE(
    "scenario 15: dead tuples and XID age page PostgresDeadTuples and PostgresXidWraparound") {
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  // XID thresholds just above today's age, so a burst of transactions
  // crosses them (the real ones are 50 % / 75 % of 2^31).
  const double age =
      std::stod(admin.query("SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'postgres'")
                    .at(0)
                    .at(0)
                    .value());
  const double limit = 2147483648.0;
  const double warning = (age + 400) / limit;
  const double critical = (age + 1500) / limit;
  Scenario scenario({15,
                     "Vacuum and wraparound: dead rows with autovacuum off; a burst of XIDs",
                     "002 scenario 2 (slow queries, bloat); 000 Scenario D (vacuum old data)",
                     "PostgresDeadTuples (datname, schemaname, relname); PostgresXidWraparound "
                     "warning then critical (datname=postgres)",
                     "dead ratio 20 % (unchanged), for 15m → 5s; XID age warning/critical = " +
                         format_ratio(warning) + " / " + format_ratio(critical) +
                         " of 2^31 (age + 400 / + 1500), for 5m → 2s",
                     {"PostgresXidWraparound"}});
  admin.query(
      "CREATE TABLE sessions (id int PRIMARY KEY, touched int) WITH (autovacuum_enabled = false)");
  admin.query("INSERT INTO sessions SELECT g, 0 FROM generate_series(1, 5000) g");
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresDeadTuples", {{"for", "\"5s\""}}) +
          rule_toml("PostgresXidWraparound", {{"for", "\"2s\""},
                                              {"warning", std::to_string(warning)},
                                              {"critical", std::to_string(critical)}}),
      target_toml("db", cluster, cluster.primary_port())));
  wait_up(daemon);
  const pgvigil::scenarios::Labels table{
      {"target", "db"}, {"datname", "postgres"}, {"schemaname", "public"}, {"relname", "sessions"}};

  const auto updated = SteadyClock::now();
  admin.query("UPDATE sessions SET touched = touched + 1");
  admin.query("UPDATE sessions SET touched = touched + 1");
  const auto dead = scenario.detect("PostgresDeadTuples", table, updated, 60s, daemon.log());
  CHECK(dead.label("severity") == "warning");
  INFO("evidence: " << dead.annotation("evidence"));
  CHECK(contains(dead.annotation("evidence"), "sessions"));
  const auto vacuumed = SteadyClock::now();
  admin.query("VACUUM sessions");
  scenario.resolve("PostgresDeadTuples", table, vacuumed, 60s, daemon.log());

  // A burst of 3000 committed transactions, each with its own XID.
  const auto burst = SteadyClock::now();
  admin.query(
      "DO $$ BEGIN FOR i IN 1..3000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$");
  const auto xid_warning = scenario.await(
      "PostgresXidWraparound", "firing",
      {{"target", "db"}, {"datname", "postgres"}, {"severity", "warning"}}, 30s, 0, daemon.log());
  const auto xid_critical = scenario.await(
      "PostgresXidWraparound", "firing",
      {{"target", "db"}, {"datname", "postgres"}, {"severity", "critical"}}, 30s, 0, daemon.log());
  CHECK(xid_warning.received_at <= xid_critical.received_at);
  scenario.note("XID critical after " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   xid_critical.received_at - burst)
                                   .count()) +
                " ms; VACUUM FREEZE resolves it");
  // The runbook's remedy: freeze the database.
  const auto frozen = SteadyClock::now();
  admin.query("VACUUM FREEZE");
  scenario.await("PostgresXidWraparound", "resolved",
                 {{"target", "db"}, {"datname", "postgres"}, {"severity", "critical"}}, 30s, 0,
                 daemon.log());
  CHECK(since(frozen) < 30s);
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
