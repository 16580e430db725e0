// Issue 5: replication, slots, archiving and failover metrics on the fixture's
// real PostgreSQL 15 primary and streaming replica, read through the daemon.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

using Clock = std::chrono::steady_clock;
using MetricLabels = std::map<std::string, std::string>;

// The fixture's replica connects with application_name=replica through the
// physical slot pgvigil_replica.
const MetricLabels kStandby{{"target", "primary"}, {"application_name", "replica"}};

std::string target_toml(const std::string& name, int port, const std::string& password_file,
                        const std::string& extra = "") {
  std::string block = "[[target]]\nname = \"" + name +
                      "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                      "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
                      password_file + "\"\n" + extra;
  for (const char* probe : {"replication", "slots", "archiver"})
    block += "[target.probes." + std::string(probe) + "]\ninterval = \"1s\"\n";
  // Not under test here: keep the servers quiet.
  for (const char* probe : {"vacuum", "indexes", "statements", "databases", "settings", "logs"})
    block += "[target.probes." + std::string(probe) + "]\nenabled = false\n";
  return block;
}

std::string config_with(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n[log]\nlevel = "
         "\"info\"\n" +
         targets;
}

std::optional<double> on(const DaemonProcess& daemon, const std::string& target,
                         const std::string& name, MetricLabels labels = {}) {
  labels.emplace("target", target);
  return daemon.metric(name, labels);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void write_some_wal(TestConnection& primary) {
  primary.query("SET client_min_messages = warning");  // no NOTICE for an existing table
  primary.query("CREATE TABLE IF NOT EXISTS filler (id int, pad text)");
  primary.query("INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g");
}

void wait_up(const DaemonProcess& daemon, const std::string& target) {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", target}}) == 1.0; }, 15s));
}

}  // namespace

TEST_CASE("replication: lag grows while replay is paused, returns to 0, stays 0 when idle") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  DaemonProcess daemon(
      config_with(target_toml("primary", cluster.primary_port(), cluster.monitor_password_file(),
                              "expected_replicas = 1\n") +
                  target_toml("standby", cluster.replica_port(), cluster.monitor_password_file())));
  wait_up(daemon, "primary");
  wait_up(daemon, "standby");
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  TestConnection standby(cluster.conninfo(cluster.replica_port()));

  // A committed transaction replayed on the standby gives it a replay
  // timestamp (a fresh standby has none: pg_last_xact_replay_timestamp() is
  // NULL and pg_replication_last_replay_seconds is then absent, not 0).
  write_some_wal(primary);
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "standby", "pg_replication_last_replay_seconds").has_value() &&
               daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby) == 0.0 &&
               on(daemon, "standby", "pg_replication_lag_seconds") == 0.0 &&
               on(daemon, "standby", "pg_stat_wal_receiver_status", {{"status", "streaming"}}) ==
                   1.0;
      },
      15s));
  CHECK(on(daemon, "primary", "pg_replication_missing_replicas") == 0.0);
  CHECK(on(daemon, "primary", "pg_stat_replication_replicas", {{"state", "streaming"}}) == 1.0);
  CHECK(daemon.metric("pg_stat_replication_sync_state", {{"target", "primary"},
                                                         {"application_name", "replica"},
                                                         {"sync_state", "async"}}) == 1.0);
  CHECK(on(daemon, "standby", "pg_replication_is_replica") == 1.0);
  CHECK(on(daemon, "standby", "pg_replication_replay_paused") == 0.0);

  {  // An idle primary for 45 s: the lag stays 0 on both sides. The other
     // majors of the version matrix watch for 20 s, still two
     // wal_receiver_status_interval reports, to keep CI within its time.
    const double idle_seconds = cluster.major() == 15 ? 45.0 : 20.0;
    const auto start = Clock::now();
    int samples = 0;
    double worst = 0;
    double worst_primary = 0;
    double oldest_replay = 0;
    while (seconds_since(start) < idle_seconds) {
      const auto lag = on(daemon, "standby", "pg_replication_lag_seconds");
      const auto delay = daemon.metric("pg_stat_replication_replay_delay_seconds", kStandby);
      REQUIRE(lag.has_value());
      REQUIRE(delay.has_value());
      worst = std::max(worst, *lag);
      worst_primary = std::max(worst_primary, *delay);
      oldest_replay = std::max(
          oldest_replay, on(daemon, "standby", "pg_replication_last_replay_seconds").value_or(0));
      ++samples;
      std::this_thread::sleep_for(500ms);
    }
    std::cout << "idle primary: " << samples << " samples over " << idle_seconds
              << " s, standby lag max " << worst << " s, primary replay delay max " << worst_primary
              << " s, last replayed commit up to " << oldest_replay << " s old\n";
    CHECK(worst == 0.0);
    // The primary may catch the standby a few milliseconds behind on WAL that
    // autovacuum or a checkpoint wrote (a real, tiny lag); what must not
    // happen is growth while nothing is written.
    CHECK(worst_primary < 1.0);
    // The replay timestamp did age meanwhile (autovacuum may commit now and
    // then): the 0 is a judgement, not a stale value.
    CHECK(oldest_replay > 12.0);
  }

  auto lag_values = [&] {
    return "primary replay_lag_bytes " +
           std::to_string(
               daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby).value_or(-1)) +
           ", standby pending " +
           std::to_string(
               on(daemon, "standby", "pg_replication_replay_pending_bytes").value_or(-1)) +
           " bytes, lag " +
           std::to_string(on(daemon, "standby", "pg_replication_lag_seconds").value_or(-1)) + " s";
  };
  standby.query("SELECT pg_wal_replay_pause()");
  REQUIRE(wait_until([&] { return on(daemon, "standby", "pg_replication_replay_paused") == 1.0; },
                     10s));
  write_some_wal(primary);
  INFO("while paused: " << lag_values());
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby).value_or(0) > 0 &&
               on(daemon, "standby", "pg_replication_replay_pending_bytes").value_or(0) > 0 &&
               on(daemon, "standby", "pg_replication_lag_seconds").value_or(0) > 0;
      },
      10s));
  const double primary_bytes_1 = *daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby);
  const double pending_1 = *on(daemon, "standby", "pg_replication_replay_pending_bytes");
  const double lag_1 = *on(daemon, "standby", "pg_replication_lag_seconds");
  const auto delay_1 = daemon.metric("pg_stat_replication_replay_delay_seconds", kStandby);
  REQUIRE(delay_1.has_value());
  write_some_wal(primary);
  CHECK(wait_until(
      [&] {
        return daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby).value_or(0) >
                   primary_bytes_1 &&
               on(daemon, "standby", "pg_replication_replay_pending_bytes").value_or(0) >
                   pending_1 &&
               on(daemon, "standby", "pg_replication_lag_seconds").value_or(0) > lag_1;
      },
      10s));
  // On the primary, time behind keeps growing although PostgreSQL's replay_lag
  // stays where it was when replay stopped.
  CHECK(wait_until(
      [&] {
        return daemon.metric("pg_stat_replication_replay_delay_seconds", kStandby).value_or(0) >
               *delay_1 + 2.0;
      },
      10s));
  // Sent, written and flushed are not held up by a paused replay.
  CHECK(wait_until(
      [&] { return daemon.metric("pg_stat_replication_flush_lag_bytes", kStandby) == 0.0; }, 10s));
  std::cout << "paused replay: primary replay_lag_bytes "
            << daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby).value_or(-1)
            << ", standby pending "
            << on(daemon, "standby", "pg_replication_replay_pending_bytes").value_or(-1)
            << " bytes, lag " << on(daemon, "standby", "pg_replication_lag_seconds").value_or(-1)
            << " s, primary replay_lag_seconds "
            << daemon.metric("pg_stat_replication_replay_lag_seconds", kStandby).value_or(-1)
            << ", primary replay_delay_seconds "
            << daemon.metric("pg_stat_replication_replay_delay_seconds", kStandby).value_or(-1)
            << "\n";

  standby.query("SELECT pg_wal_replay_resume()");
  CHECK(wait_until(
      [&] {
        return daemon.metric("pg_stat_replication_replay_lag_bytes", kStandby) == 0.0 &&
               daemon.metric("pg_stat_replication_replay_delay_seconds", kStandby) == 0.0 &&
               on(daemon, "standby", "pg_replication_replay_pending_bytes") == 0.0 &&
               on(daemon, "standby", "pg_replication_lag_seconds") == 0.0 &&
               on(daemon, "standby", "pg_replication_replay_paused") == 0.0;
      },
      15s));
}

TEST_CASE("replication: a stopped standby's series go within a round, missing replicas 1") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  DaemonProcess daemon(
      config_with(target_toml("primary", cluster.primary_port(), cluster.monitor_password_file(),
                              "expected_replicas = 1\n")));
  wait_up(daemon, "primary");
  REQUIRE(wait_until(
      [&] {
        return pgvigil::test::metric_series(daemon.metrics(),
                                            "pg_stat_replication_replay_lag_bytes", kStandby) == 1;
      },
      10s));
  CHECK(on(daemon, "primary", "pg_replication_missing_replicas") == 0.0);
  CHECK(on(daemon, "primary", "pg_replication_expected_replicas") == 1.0);

  cluster.stop_server("replica");
  const auto stopped = Clock::now();
  auto gone = wait_until(
      [&] {
        const auto text = daemon.metrics();
        return pgvigil::test::metric_series(text, "pg_stat_replication_replay_lag_bytes",
                                            kStandby) == 0 &&
               pgvigil::test::metric_series(text, "pg_stat_replication_sync_state", kStandby) ==
                   0 &&
               pgvigil::test::metric_value(text, "pg_replication_missing_replicas",
                                           {{"target", "primary"}}) == 1.0;
      },
      10s, 20ms);
  REQUIRE(gone);
  std::cout << "stopped standby: series gone and missing_replicas 1 after " << gone->count()
            << " ms\n";
  CHECK(seconds_since(stopped) < 2.5);  // one 1 s round plus the one in flight
  CHECK(on(daemon, "primary", "pg_stat_replication_replicas", {{"state", "streaming"}}) == 0.0);

  cluster.start_server("replica");
  CHECK(wait_until([&] { return on(daemon, "primary", "pg_replication_missing_replicas") == 0.0; },
                   30s));
}

TEST_CASE("slots: an inactive physical slot with writes retains growing WAL") {
  PgCluster cluster;
  DaemonProcess daemon(
      config_with(target_toml("primary", cluster.primary_port(), cluster.monitor_password_file())));
  wait_up(daemon, "primary");
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  primary.query("SELECT pg_create_physical_replication_slot('idle', true)");

  const MetricLabels idle{{"target", "primary"}, {"slot_name", "idle"}, {"slot_type", "physical"}};
  REQUIRE(wait_until(
      [&] { return daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle).has_value(); },
      10s));
  CHECK(daemon.metric("pg_replication_slots_active", idle) == 0.0);
  CHECK(daemon.metric("pg_replication_slots_wal_status",
                      {{"target", "primary"}, {"slot_name", "idle"}, {"wal_status", "reserved"}}) ==
        1.0);
  const double before = *daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle);
  write_some_wal(primary);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle).value_or(0) >
               before + 100'000;
      },
      10s));
  const double after_one = *daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle);
  write_some_wal(primary);
  CHECK(wait_until(
      [&] {
        return daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle).value_or(0) >
               after_one + 100'000;
      },
      10s));
  std::cout << "inactive slot retains " << before << " -> " << after_one << " -> "
            << daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle).value_or(-1)
            << " bytes\n";

  primary.query("SELECT pg_drop_replication_slot('idle')");
  CHECK(wait_until(
      [&] { return !daemon.metric("pg_replication_slots_pg_wal_lsn_diff", idle).has_value(); },
      10s));
}

TEST_CASE("bgwriter: a CHECKPOINT on a 17+ standby is a restartpoint, counted there only") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  const std::string bgwriter_every_second = "[target.probes.bgwriter]\ninterval = \"1s\"\n";
  DaemonProcess daemon(
      config_with(target_toml("primary", cluster.primary_port(), cluster.monitor_password_file(),
                              bgwriter_every_second) +
                  target_toml("replica", cluster.replica_port(), cluster.monitor_password_file(),
                              bgwriter_every_second)));
  wait_up(daemon, "primary");
  wait_up(daemon, "replica");
  CAPTURE(cluster.major());
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "replica", "pg_stat_bgwriter_buffers_alloc_total").has_value() &&
               on(daemon, "primary", "pg_stat_bgwriter_buffers_alloc_total").has_value();
      },
      10s));
  if (cluster.major() < 17) {
    // No restartpoint counters before pg_stat_checkpointer, and no failure.
    const std::string text = daemon.metrics();
    CHECK(pgvigil::test::metric_series(text, "pg_stat_checkpointer_restartpoints_done_total") == 0);
    CHECK(pgvigil::test::metric_series(text, "pg_stat_checkpointer_restartpoints_req_total") == 0);
    for (const char* target : {"primary", "replica"})
      CHECK(on(daemon, target, "pgvigil_probe_failures_total", {{"probe", "bgwriter"}}) == 0.0);
    return;
  }
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "replica", "pg_stat_checkpointer_restartpoints_done_total").has_value();
      },
      10s));
  const double done = *on(daemon, "replica", "pg_stat_checkpointer_restartpoints_done_total");
  const double requested = *on(daemon, "replica", "pg_stat_checkpointer_restartpoints_req_total");

  // A restartpoint needs a checkpoint record replayed since the last one.
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  write_some_wal(primary);
  primary.query("CHECKPOINT");
  const auto target_lsn = *primary.query("SELECT pg_current_wal_lsn()::text")[0][0];
  TestConnection standby(cluster.conninfo(cluster.replica_port()));
  REQUIRE(wait_until(
      [&] {
        return standby.query("SELECT pg_last_wal_replay_lsn() >= '" + target_lsn +
                             "'::pg_lsn")[0][0] == "t";
      },
      10s));
  standby.query("CHECKPOINT");
  CHECK(wait_until(
      [&] {
        return on(daemon, "replica", "pg_stat_checkpointer_restartpoints_req_total").value_or(0) >=
                   requested + 1 &&
               on(daemon, "replica", "pg_stat_checkpointer_restartpoints_done_total").value_or(0) >=
                   done + 1;
      },
      10s));
  CHECK(on(daemon, "primary", "pg_stat_checkpointer_restartpoints_done_total") == 0.0);
  CHECK(on(daemon, "replica", "pgvigil_probe_failures_total", {{"probe", "bgwriter"}}) == 0.0);
}

TEST_CASE("conflicts: a standby reports recovery conflicts per database, a primary does not") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  {
    TestConnection primary(cluster.conninfo(cluster.primary_port()));
    primary.query("CREATE DATABASE app");
  }
  // The databases probe every second on both sides (target_toml switches it off).
  auto target = [&](const std::string& name, int port) {
    return "[[target]]\nname = \"" + name +
           "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
           "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
           cluster.monitor_password_file() +
           "\"\n[target.probes.databases]\ninterval = \"1s\"\n"
           "[target.probes.vacuum]\nenabled = false\n";
  };
  DaemonProcess daemon(config_with(target("primary", cluster.primary_port()) +
                                   target("replica", cluster.replica_port())));
  wait_up(daemon, "primary");
  wait_up(daemon, "replica");
  CAPTURE(cluster.major());
  const std::vector<std::string> always{
      "pg_stat_database_conflicts_confl_tablespace", "pg_stat_database_conflicts_confl_lock",
      "pg_stat_database_conflicts_confl_snapshot", "pg_stat_database_conflicts_confl_bufferpin",
      "pg_stat_database_conflicts_confl_deadlock"};
  // The standby has replayed CREATE DATABASE app.
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "replica", "pg_stat_database_conflicts_confl_lock", {{"datname", "app"}})
                   .has_value() &&
               on(daemon, "primary", "pg_stat_database_xact_commit", {{"datname", "app"}})
                   .has_value();
      },
      15s));
  const std::string text = daemon.metrics();
  for (const auto& name : always) {
    CAPTURE(name);
    for (const char* datname : {"app", "postgres"})
      CHECK(pgvigil::test::metric_value(text, name,
                                        {{"target", "replica"}, {"datname", datname}}) == 0.0);
    CHECK(pgvigil::test::metric_series(text, name, {{"target", "primary"}}) == 0);
    // Templates are left out, as in pg_stat_database's series.
    CHECK(pgvigil::test::metric_series(text, name, {{"datname", "template1"}}) == 0);
  }
  CHECK(pgvigil::test::metric_series(text, "pg_stat_database_conflicts_confl_active_logicalslot",
                                     {{"target", "replica"}, {"datname", "app"}}) ==
        (cluster.major() >= 16 ? 1u : 0u));
  for (const char* name : {"primary", "replica"})
    CHECK(on(daemon, name, "pgvigil_probe_failures_total", {{"probe", "databases"}}) == 0.0);
}

TEST_CASE("slots: a streaming standby's slot is pg_replication_slots_active 1, a new one 0") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  DaemonProcess daemon(
      config_with(target_toml("primary", cluster.primary_port(), cluster.monitor_password_file())));
  wait_up(daemon, "primary");
  const MetricLabels streaming{
      {"target", "primary"}, {"slot_name", "pgvigil_replica"}, {"slot_type", "physical"}};
  REQUIRE(wait_until([&] { return daemon.metric("pg_replication_slots_active", streaming) == 1.0; },
                     15s));
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  primary.query("SELECT pg_create_physical_replication_slot('spare')");
  const MetricLabels spare{
      {"target", "primary"}, {"slot_name", "spare"}, {"slot_type", "physical"}};
  CHECK(
      wait_until([&] { return daemon.metric("pg_replication_slots_active", spare) == 0.0; }, 10s));
  CHECK(daemon.metric("pg_replication_slots_active", streaming) == 1.0);
  CHECK(on(daemon, "primary", "pgvigil_probe_failures_total", {{"probe", "slots"}}) == 0.0);
}

TEST_CASE("archiver: a failing archive_command raises failed_count and breaches the RPO") {
  PgCluster cluster;
  DaemonProcess daemon(config_with(target_toml("primary", cluster.primary_port(),
                                               cluster.monitor_password_file(), "rpo = \"3s\"\n")));
  wait_up(daemon, "primary");
  TestConnection primary(cluster.conninfo(cluster.primary_port()));

  // A segment archived with the fixture's working command: the baseline.
  write_some_wal(primary);
  primary.query("SELECT pg_switch_wal()");
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "primary", "pg_stat_archiver_archived_count").value_or(0) >= 1 &&
               on(daemon, "primary", "pg_wal_archive_rpo_breached") == 0.0;
      },
      15s));
  CHECK(on(daemon, "primary", "pg_wal_archive_rpo_seconds") == 3.0);
  CHECK(on(daemon, "primary", "pg_stat_archiver_failed_count") == 0.0);
  CHECK(on(daemon, "primary", "pg_wal_archiving_enabled") == 1.0);

  primary.query("ALTER SYSTEM SET archive_command = 'false'");
  primary.query("SELECT pg_reload_conf()");
  std::this_thread::sleep_for(300ms);  // the archiver reads the new command on its next wake-up
  const auto broken = Clock::now();
  write_some_wal(primary);
  primary.query("SELECT pg_switch_wal()");
  REQUIRE(wait_until(
      [&] { return on(daemon, "primary", "pg_stat_archiver_failed_count").value_or(0) >= 1; },
      15s));
  const double failed_1 = *on(daemon, "primary", "pg_stat_archiver_failed_count");
  CHECK(on(daemon, "primary", "pg_wal_archive_failing") == 1.0);
  write_some_wal(primary);
  primary.query("SELECT pg_switch_wal()");
  CHECK(wait_until(
      [&] { return on(daemon, "primary", "pg_stat_archiver_failed_count").value_or(0) > failed_1; },
      15s));
  REQUIRE(
      wait_until([&] { return on(daemon, "primary", "pg_wal_archive_rpo_breached") == 1.0; }, 15s));
  std::cout << "failing archive_command: RPO breach reported " << seconds_since(broken)
            << " s after the command broke (rpo 3 s, measured from the last success), "
               "failed_count "
            << on(daemon, "primary", "pg_stat_archiver_failed_count").value_or(-1)
            << ", pending files "
            << on(daemon, "primary", "pg_wal_archive_pending_files").value_or(-1) << "\n";
  CHECK(on(daemon, "primary", "pg_stat_archiver_last_archive_age").value_or(0) > 3.0);
  CHECK(on(daemon, "primary", "pg_wal_archive_pending_files").value_or(0) >= 1);

  primary.query("ALTER SYSTEM RESET archive_command");
  primary.query("SELECT pg_reload_conf()");
  CHECK(wait_until(
      [&] {
        return on(daemon, "primary", "pg_wal_archive_rpo_breached") == 0.0 &&
               on(daemon, "primary", "pg_wal_archive_failing") == 0.0 &&
               on(daemon, "primary", "pg_wal_archive_pending_files") == 0.0;
      },
      30s));
}

TEST_CASE("failover: promoting the standby flips its role metrics and counts the change") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  DaemonProcess daemon(
      config_with(target_toml("standby", cluster.replica_port(), cluster.monitor_password_file())));
  wait_up(daemon, "standby");
  REQUIRE(wait_until(
      [&] {
        return on(daemon, "standby", "pg_replication_is_replica") == 1.0 &&
               on(daemon, "standby", "pg_replication_replay_pending_bytes").has_value();
      },
      10s));
  CHECK(on(daemon, "standby", "pg_server_info", {{"role", "replica"}}) == 1.0);
  CHECK(on(daemon, "standby", "pg_role_changes_total") == 0.0);

  cluster.promote();
  const auto promoted = Clock::now();
  auto flipped = wait_until(
      [&] {
        const auto text = daemon.metrics();
        return pgvigil::test::metric_value(text, "pg_replication_is_replica",
                                           {{"target", "standby"}}) == 0.0 &&
               pgvigil::test::metric_value(text, "pg_server_info",
                                           {{"target", "standby"}, {"role", "primary"}}) == 1.0 &&
               pgvigil::test::metric_value(text, "pg_role_changes_total",
                                           {{"target", "standby"}}) == 1.0;
      },
      10s, 20ms);
  REQUIRE(flipped);
  // promote() returns once the server accepts writes; liveness runs every 1 s.
  std::cout << "promotion: role metrics flipped " << flipped->count()
            << " ms after promote() returned\n";
  CHECK(seconds_since(promoted) < 2.0);
  const auto text = daemon.metrics();
  CHECK(pgvigil::test::metric_series(text, "pg_server_info",
                                     {{"target", "standby"}, {"role", "replica"}}) == 0);
  // The standby's series are gone; the primary's appear at the next round.
  CHECK(wait_until(
      [&] {
        const auto now = daemon.metrics();
        return pgvigil::test::metric_series(now, "pg_replication_replay_pending_bytes",
                                            {{"target", "standby"}}) == 0 &&
               pgvigil::test::metric_series(now, "pg_stat_replication_replicas",
                                            {{"target", "standby"}}) > 0;
      },
      5s));
}
