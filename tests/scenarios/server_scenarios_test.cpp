// Runbook scenarios 1-3: the server or its database is gone.
#include <doctest/doctest.h>

#include <filesystem>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::scenarios::contains;
using pgvigil::scenarios::rule_toml;
using pgvigil::scenarios::Scenario;
using pgvigil::scenarios::SteadyClock;
using pgvigil::scenarios::target_toml;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

void wait_up(const DaemonProcess& daemon, const std::string& target = "db") {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", target}}) == 1.0; }, 30s));
}

}  // namespace

TEST_CASE("scenario 1: a crashed server pages PostgresDown reason=refused, a restart resolves it") {
  Scenario scenario({1,
                     "Server stopped: postmaster killed with SIGKILL, then restarted",
                     "000 Step 2 / Scenario A (container stopped); 001 scenario 1; 002 scenario 1",
                     "PostgresDown (reason=refused, severity=critical)",
                     "PostgresDown for 30s → 2s",
                     // A killed postmaster leaves its postmaster.pid: the same failure.
                     {"PostgresDown", "PostgresStaleLockFile"}});
  PgCluster cluster;
  DaemonProcess daemon(scenario.daemon_config(rule_toml("PostgresDown", {{"for", "\"2s\""}}),
                                              target_toml("db", cluster, cluster.primary_port())));
  wait_up(daemon);

  const auto killed = SteadyClock::now();
  cluster.kill_server("primary");
  const auto alert = scenario.detect("PostgresDown", {{"target", "db"}, {"reason", "refused"}},
                                     killed, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("evidence"), "refused"));
  CHECK(contains(alert.annotation("runbook_url"), "/runbooks/PostgresDown.md"));
  CHECK_FALSE(contains(alert.annotation("evidence"), cluster.monitor_password()));

  const auto restarted = SteadyClock::now();
  cluster.start_server("primary");
  scenario.resolve("PostgresDown", {{"target", "db"}, {"reason", "refused"}}, restarted, 30s,
                   daemon.log());
  wait_up(daemon);
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 2: a stale postmaster.pid pages PostgresStaleLockFile, removing it resolves") {
  Scenario scenario({2,
                     "Stale lock file: postmaster killed, postmaster.pid left behind",
                     "000 Step 3 / Scenario B (database locked, stale PID)",
                     "PostgresDown (reason=refused) + PostgresStaleLockFile (pid evidence)",
                     "PostgresDown for 30s → 2s; PostgresStaleLockFile for 1m → 2s",
                     {"PostgresDown", "PostgresStaleLockFile"}});
  PgCluster cluster;
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresDown", {{"for", "\"2s\""}}) +
                                 rule_toml("PostgresStaleLockFile", {{"for", "\"2s\""}}),
                             target_toml("db", cluster, cluster.primary_port())));
  wait_up(daemon);
  // The data directory is learnt from the server while it is up.
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_datadir_stale_pidfile", {{"target", "db"}}) == 0.0;
      },
      20s));

  const pid_t old_pid = cluster.postmaster_pid("primary");
  const auto killed = SteadyClock::now();
  cluster.kill_server("primary");
  const std::string pidfile = cluster.primary_data() + "/postmaster.pid";
  REQUIRE(std::filesystem::exists(pidfile));
  const auto down =
      scenario.detect("PostgresDown", {{"target", "db"}, {"reason", "refused"}}, killed, 30s);
  const auto stale =
      scenario.detect("PostgresStaleLockFile", {{"target", "db"}}, killed, 30s, daemon.log());
  CHECK(stale.label("severity") == "critical");
  INFO("evidence: " << stale.annotation("evidence"));
  CHECK(contains(stale.annotation("evidence"), std::to_string(old_pid)));
  CHECK(contains(down.annotation("evidence"), "refused"));
  scenario.note("PostgresStaleLockFile after " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   stale.received_at - killed)
                                   .count()) +
                " ms");

  // The runbook's recovery: remove the stale file, start the server.
  const auto recovered = SteadyClock::now();
  std::filesystem::remove(pidfile);
  cluster.start_server("primary");
  scenario.resolve("PostgresStaleLockFile", {{"target", "db"}}, recovered, 30s, daemon.log());
  scenario.resolve("PostgresDown", {{"target", "db"}}, recovered, 30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 3: a dropped application database pages PostgresDatabaseMissing") {
  Scenario scenario({3,
                     "Database missing: the application database is dropped, then restored",
                     "000 Detection (FATAL: database \"…\" does not exist)",
                     "PostgresDatabaseMissing (datname=appdb, severity=critical)",
                     "PostgresDatabaseMissing for 1m → 2s",
                     {"PostgresDatabaseMissing"}});
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE DATABASE appdb");
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PostgresDatabaseMissing", {{"for", "\"2s\""}}),
      target_toml("db", cluster, cluster.primary_port(), "expected_databases = [\"appdb\"]\n")));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_database_exists", {{"target", "db"}, {"datname", "appdb"}}) == 1.0;
      },
      20s));

  const auto dropped = SteadyClock::now();
  admin.query("DROP DATABASE appdb");
  const auto alert =
      scenario.detect("PostgresDatabaseMissing", {{"target", "db"}, {"datname", "appdb"}}, dropped,
                      30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("runbook_url"), "PostgresDatabaseMissing.md"));

  // Recovery: the database restored (here: recreated empty).
  const auto restored = SteadyClock::now();
  admin.query("CREATE DATABASE appdb");
  scenario.resolve("PostgresDatabaseMissing", {{"target", "db"}, {"datname", "appdb"}}, restored,
                   30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
