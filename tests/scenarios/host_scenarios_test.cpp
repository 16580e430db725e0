// Runbook scenarios 12-16: data on disk (space, corruption, backups, vacuum)
// and the runbook's own verification query.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"
#include "support/tmpfs_mount.hpp"

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

TEST_CASE("scenario 14: an old newest backup pages PostgresBackupStale, a pg_dump resolves it") {
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

TEST_CASE("scenario 12: a filling data disk pages PostgresDiskWillFill, then DiskSpaceLow") {
  pgvigil::test::TmpfsMount disk("size=96M");  // needs root: throws (and fails) without
  Scenario scenario({12,
                     "Disk filling and full: the data directory on a 96 MiB tmpfs filled by a "
                     "table until ENOSPC, then the table dropped",
                     "000 Scenario D (out of disk space); 002 scenario 3; 004 if disk is full",
                     "PostgresDiskWillFill (role=data, mountpoint), then PostgresDiskSpaceLow "
                     "critical; disk_full log class",
                     "DiskWillFill threshold 4h → 4m, for 10m → 2s; DiskSpaceLow 70 % / 90 % "
                     "(unchanged), critical_bytes 10GiB → 10MiB, for 5m → 2s",
                     {"PostgresDiskSpaceLow"}});
  pgvigil::test::PgClusterOptions options;
  options.data_parent = disk.path();
  options.settings = {"min_wal_size=32MB", "max_wal_size=32MB"};  // the table takes the room
  PgCluster cluster(options);
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresDiskWillFill", {{"threshold", "\"4m\""}, {"for", "\"2s\""}}) +
          rule_toml("PostgresDiskSpaceLow", {{"for", "\"2s\""}, {"critical_bytes", "\"10MiB\""}}),
      target_toml("db", cluster, cluster.primary_port(),
                  "[target.log]\npath = \"" + cluster.primary_log() + "\"\n")));
  wait_up(daemon);
  const pgvigil::scenarios::Labels data_fs{
      {"target", "db"}, {"role", "data"}, {"mountpoint", disk.path()}};
  REQUIRE(wait_until(
      [&] { return daemon.metric("pg_filesystem_used_ratio", data_fs).value_or(1) < 0.7; }, 20s));

  // A steady fill that runs out of space ~80 s from now: the forecast needs
  // a minute of samples, and must come before the disk is full.
  TestConnection db(cluster.conninfo(cluster.primary_port()));
  const auto filling = SteadyClock::now();
  const std::string fill_error = pgvigil::test::fill_until_full(db, disk, 80s, 150s).error;
  INFO("fill error: " << fill_error);
  REQUIRE_FALSE(fill_error.empty());
  const auto will_fill =
      scenario.detect("PostgresDiskWillFill", data_fs, filling, 10s, daemon.log());
  CHECK(will_fill.label("severity") == "warning");
  const auto low = scenario.await("PostgresDiskSpaceLow", "firing",
                                  {{"target", "db"}, {"role", "data"}, {"severity", "critical"}},
                                  30s, 0, daemon.log());
  CHECK(low.label("mountpoint") == disk.path());
  CHECK(will_fill.received_at < low.received_at);
  CHECK(wait_until(
      [&] {
        return daemon.metric("pg_log_messages_total", {{"target", "db"}, {"class", "disk_full"}})
                   .value_or(0) >= 1;
      },
      10s));
  scenario.note("DiskWillFill " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                   low.received_at - will_fill.received_at)
                                   .count()) +
                " s before DiskSpaceLow critical");

  const auto dropped = SteadyClock::now();
  db.query("DROP TABLE fill");
  db.query("CHECKPOINT");
  scenario.resolve("PostgresDiskSpaceLow",
                   {{"target", "db"}, {"role", "data"}, {"severity", "critical"}}, dropped, 30s,
                   daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 13: a corrupted heap page read pages PostgresCorruption with the log line") {
  Scenario scenario({13,
                     "Corruption: checksums on, a heap page overwritten while stopped, read",
                     "000 Scenario C; 001 scenario 2; 003 scenario 2 (crash/corruption)",
                     "PostgresCorruption (severity=critical; server log line in evidence)",
                     "PostgresCorruption window 15m → 15s",
                     {"PostgresCorruption"}});
  pgvigil::test::PgClusterOptions options;
  options.checksums = true;
  PgCluster cluster(options);
  std::string relation_path;
  {
    TestConnection db(cluster.conninfo(cluster.primary_port()));
    db.query(
        "CREATE TABLE victim WITH (autovacuum_enabled = false) AS "
        "SELECT g AS id, repeat('v', 200) AS pad FROM generate_series(1, 2000) g");
    db.query("CHECKPOINT");
    relation_path = cluster.primary_data() + "/" +
                    db.query("SELECT pg_relation_filepath('victim')").at(0).at(0).value();
  }
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresCorruption", {{"window", "\"15s\""}}),
      target_toml("db", cluster, cluster.primary_port(),
                  "[target.log]\npath = \"" + cluster.primary_log() + "\"\n")));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_stat_database_checksum_failures",
                             {{"target", "db"}, {"datname", "postgres"}}) == 0.0;
      },
      20s));
  std::this_thread::sleep_for(2s);  // the change rules take their baseline

  cluster.stop_server("primary");
  {
    const int fd = ::open(relation_path.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    const std::string garbage(64, '\x5a');
    const auto written = ::pwrite(fd, garbage.data(), garbage.size(), 8192 + 4000);
    ::close(fd);
    REQUIRE(written == static_cast<ssize_t>(garbage.size()));
  }
  cluster.start_server("primary");
  const auto read_at = SteadyClock::now();
  std::string query_error;
  try {
    TestConnection db(cluster.conninfo(cluster.primary_port()));
    db.query("SELECT count(*) FROM victim");
  } catch (const std::exception& e) {
    query_error = e.what();
  }
  REQUIRE_FALSE(query_error.empty());
  const auto alert =
      scenario.detect("PostgresCorruption", {{"target", "db"}}, read_at, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  auto names_the_page = [](const std::string& text) {
    return contains(text, "invalid page in block") ||
           contains(text, "checksum verification failed");
  };
  std::string evidence = alert.annotation("evidence");
  if (!names_the_page(evidence)) {
    // The checksum counter can fire the alert a round before the logs probe
    // has read the line. The daemon then completes the evidence and re-sends
    // at once; Alertmanager keeps the newer annotations (its webhook repeats
    // only after repeat_interval), so the on-call sees them there.
    const auto completed = pgvigil::test::wait_until(
        [&] {
          evidence =
              pgvigil::test::http_get(scenario.alertmanager().port(),
                                      "/api/v2/alerts?filter=alertname%3D%22PostgresCorruption%22")
                  .body;
          return names_the_page(evidence);
        },
        15s);
    if (completed) scenario.note("log line added to the evidence after firing");
  }
  INFO("evidence: " << evidence);
  CHECK(names_the_page(evidence));

  // The runbook restores the table from a backup: here, the damaged table is
  // dropped and recreated. With no new corruption the alert ages out.
  const auto restored = SteadyClock::now();
  {
    TestConnection db(cluster.conninfo(cluster.primary_port()));
    db.query("DROP TABLE victim");
    db.query("CREATE TABLE victim AS SELECT g AS id FROM generate_series(1, 10) g");
  }
  scenario.resolve("PostgresCorruption", {{"target", "db"}}, restored, 60s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
