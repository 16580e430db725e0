// Runbook scenarios 8-11: standbys, failover and WAL archiving.
#include <doctest/doctest.h>

#include <iostream>
#include <thread>

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
using pgvigil::test::PgClusterOptions;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

void wait_up(const DaemonProcess& daemon, const std::string& target) {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", target}}) == 1.0; }, 30s));
}

PgClusterOptions with_replica() {
  PgClusterOptions options;
  options.replica = true;
  return options;
}

void create_orders(TestConnection& primary) {
  primary.query("CREATE TABLE orders (id bigserial, pad text)");
}

void write_some_wal(TestConnection& primary) {
  primary.query("INSERT INTO orders (pad) SELECT repeat('o', 200) FROM generate_series(1, 500)");
}

}  // namespace

TEST_CASE("scenario 9: a stopped standby pages PostgresReplicaMissing, starting it resolves") {
  Scenario scenario({9,
                     "Replica down: the streaming standby is stopped, then started",
                     "001 scenario 3 (primary-replica); 003 scenario 3 (replica health)",
                     "PostgresReplicaMissing (target=primary, severity=critical)",
                     "expected_replicas = 1; PostgresReplicaMissing for 1m → 2s",
                     {"PostgresReplicaMissing"}});
  PgCluster cluster(with_replica());
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresReplicaMissing", {{"for", "\"2s\""}}),
      target_toml("primary", cluster, cluster.primary_port(), "expected_replicas = 1\n")));
  wait_up(daemon, "primary");
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_replication_missing_replicas", {{"target", "primary"}}) == 0.0;
      },
      20s));

  const auto stopped = SteadyClock::now();
  cluster.stop_server("replica");
  const auto alert = scenario.detect("PostgresReplicaMissing", {{"target", "primary"}}, stopped,
                                     40s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("runbook_url"), "PostgresReplicaMissing.md"));

  const auto started = SteadyClock::now();
  cluster.start_server("replica");
  scenario.resolve("PostgresReplicaMissing", {{"target", "primary"}}, started, 40s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 8: paused replay under writes pages PostgresReplicationLag warning, critical") {
  Scenario scenario(
      {8,
       "Replication lag: replay paused on the standby under write load, resumed",
       "003 scenario 3 (replication lag); 004 verify replication lag",
       "PostgresReplicationLag warning, then critical (target=standby, or target=primary with "
       "application_name=replica)",
       "warning 5s → 3s, critical 5m → 10s, for 1m → 2s",
       {"PostgresReplicationLag"}});
  PgCluster cluster(with_replica());
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresReplicationLag",
                {{"for", "\"2s\""}, {"warning", "\"3s\""}, {"critical", "\"10s\""}}),
      target_toml("primary", cluster, cluster.primary_port()) +
          target_toml("standby", cluster, cluster.replica_port())));
  wait_up(daemon, "primary");
  wait_up(daemon, "standby");
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  TestConnection standby(cluster.conninfo(cluster.replica_port()));
  create_orders(primary);
  write_some_wal(primary);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_replication_lag_seconds", {{"target", "standby"}}) == 0.0;
      },
      20s));

  standby.query("SELECT pg_wal_replay_pause()");
  const auto paused = SteadyClock::now();
  // A steady trickle of commits, as an application would write.
  std::optional<pgvigil::test::WebhookAlert> warning, critical;
  while (since(paused) < 60s && !critical) {
    write_some_wal(primary);
    if (!warning) {
      auto found = pgvigil::test::matching_alerts(scenario.hook(), "PostgresReplicationLag",
                                                  "firing", {{"severity", "warning"}});
      if (!found.empty()) warning = found.front();
    }
    auto found = pgvigil::test::matching_alerts(scenario.hook(), "PostgresReplicationLag", "firing",
                                                {{"severity", "critical"}});
    if (!found.empty()) critical = found.front();
    std::this_thread::sleep_for(250ms);
  }
  if (!critical) std::cerr << daemon.log();
  REQUIRE(warning);
  REQUIRE(critical);
  // Recorded through detect(): the first stage.
  scenario.detect("PostgresReplicationLag", {{"severity", "warning"}}, paused, 1s);
  CHECK(warning->received_at <= critical->received_at);
  CHECK(critical->received_at - paused >= 10s);
  // Seen from either side: the standby's own replay delay, or the primary's
  // pg_stat_replication row for it (which names the standby).
  for (const auto* alert : {&*warning, &*critical}) {
    INFO("target " << alert->label("target"));
    CHECK((alert->label("target") == "standby" ||
           (alert->label("target") == "primary" && alert->label("application_name") == "replica")));
  }
  INFO("evidence: " << critical->annotation("evidence"));
  CHECK_FALSE(critical->annotation("evidence").empty());
  scenario.note("critical after " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   critical->received_at - paused)
                                   .count()) +
                " ms");

  const auto resumed = SteadyClock::now();
  standby.query("SELECT pg_wal_replay_resume()");
  write_some_wal(primary);
  scenario.resolve("PostgresReplicationLag",
                   {{"severity", "critical"}, {"target", critical->label("target")}}, resumed, 40s,
                   daemon.log());
  scenario.await("PostgresReplicationLag", "resolved",
                 {{"severity", "warning"}, {"target", warning->label("target")}}, 30s, 0);
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE(
    "scenario 10: failover pages PostgresRoleChanged, then PostgresDown for the old primary") {
  Scenario scenario({10,
                     "Failover: standby promoted with pg_promote, old primary stopped",
                     "001 scenario 3 (failover); 004 attempt failover / verify replica promoted",
                     "PostgresRoleChanged (target=standby), PostgresDown (target=primary, "
                     "reason=refused)",
                     "PostgresRoleChanged window 10m → 10s; PostgresDown for 30s → 2s",
                     {"PostgresDown"}});
  PgCluster cluster(with_replica());
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresRoleChanged", {{"window", "\"10s\""}}) +
                                 rule_toml("PostgresDown", {{"for", "\"2s\""}}),
                             target_toml("primary", cluster, cluster.primary_port()) +
                                 target_toml("standby", cluster, cluster.replica_port())));
  wait_up(daemon, "primary");
  wait_up(daemon, "standby");
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_server_info", {{"target", "standby"}, {"role", "replica"}}) == 1.0;
      },
      20s));
  // The role rule takes its baseline from the first value it sees.
  std::this_thread::sleep_for(2s);

  TestConnection standby(cluster.conninfo(cluster.replica_port()));
  const auto promoted = SteadyClock::now();
  standby.query("SELECT pg_promote(true, 60)");
  const auto changed =
      scenario.detect("PostgresRoleChanged", {{"target", "standby"}}, promoted, 30s, daemon.log());
  CHECK(changed.label("severity") == "warning");
  CHECK(daemon.metric("pg_server_info", {{"target", "standby"}, {"role", "primary"}}) == 1.0);

  const auto stopped = SteadyClock::now();
  cluster.stop_server("primary");
  const auto down =
      scenario.await("PostgresDown", "firing", {{"target", "primary"}, {"reason", "refused"}}, 30s,
                     0, daemon.log());
  CHECK(down.label("severity") == "critical");
  scenario.note("PostgresDown for the old primary after " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   down.received_at - stopped)
                                   .count()) +
                " ms; new primary reported with role=primary");
  // The role change ages out after its window; the new primary stays up.
  scenario.resolve("PostgresRoleChanged", {{"target", "standby"}}, changed.received_at, 40s,
                   daemon.log());
  CHECK(daemon.metric("pg_up", {{"target", "standby"}}) == 1.0);
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 11: a failing archive_command pages PostgresWalArchivingFailing") {
  Scenario scenario({11,
                     "WAL archiving broken: archive_command fails, then is repaired",
                     "004 RPO 15 minutes / clean up WAL archives",
                     "PostgresWalArchivingFailing (severity=critical; failed WAL in evidence)",
                     "PostgresWalArchivingFailing for 5m → 5s; rpo 15m → 15s",
                     {"PostgresWalArchivingFailing"}});
  PgCluster cluster;
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresWalArchivingFailing", {{"for", "\"5s\""}}),
      target_toml("db", cluster, cluster.primary_port(), "rpo = \"15s\"\n")));
  wait_up(daemon, "db");
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  create_orders(primary);
  write_some_wal(primary);
  primary.query("SELECT pg_switch_wal()");
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_stat_archiver_archived_count", {{"target", "db"}}).value_or(0) >=
               1;
      },
      20s));

  primary.query("ALTER SYSTEM SET archive_command = 'false'");
  primary.query("SELECT pg_reload_conf()");
  std::this_thread::sleep_for(300ms);  // the archiver reads the command on its next wake-up
  const auto broken = SteadyClock::now();
  write_some_wal(primary);
  primary.query("SELECT pg_switch_wal()");
  const auto alert =
      scenario.detect("PostgresWalArchivingFailing", {{"target", "db"}}, broken, 60s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  const auto failed_wal = primary.query("SELECT last_failed_wal FROM pg_stat_archiver");
  INFO("evidence: " << alert.annotation("evidence"));
  REQUIRE(failed_wal.at(0).at(0).has_value());
  CHECK(contains(alert.annotation("evidence"), failed_wal.at(0).at(0)->substr(0, 16)));

  const auto repaired = SteadyClock::now();
  primary.query("ALTER SYSTEM RESET archive_command");
  primary.query("SELECT pg_reload_conf()");
  scenario.resolve("PostgresWalArchivingFailing", {{"target", "db"}}, repaired, 60s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
