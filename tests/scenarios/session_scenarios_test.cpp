// Runbook scenarios 4-7: sessions that exhaust, hold or block the server.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

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

void wait_up(const DaemonProcess& daemon) {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 30s));
}

}  // namespace

TEST_CASE("scenario 4: a full connection pool pages PostgresConnectionsExhausted") {
  Scenario scenario({4,
                     "Connection pool exhausted: every usable slot taken by idle clients",
                     "000 Scenario E; 001 scenario 4; 003 scenario 1 (pool exhaustion)",
                     "PostgresConnectionsExhausted (severity=critical) while pg_up stays 1",
                     "max_connections 12 (2 reserved); PostgresConnectionsExhausted for 30s → 2s",
                     {"PostgresConnectionsExhausted"}});
  PgClusterOptions options;
  options.settings = {"max_connections=12", "superuser_reserved_connections=2"};
  PgCluster cluster(options);
  const int port = cluster.primary_port();
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresConnectionsExhausted", {{"for", "\"2s\""}}),
                             target_toml("db", cluster, port)));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_connections_utilization_ratio", {{"target", "db"}}).has_value();
      },
      20s));

  // An application's pool: ordinary-role sessions until the server refuses
  // the next one (the superuser slots stay free for the on-call).
  const auto filled = SteadyClock::now();
  std::vector<std::unique_ptr<TestConnection>> pool;
  std::string refusal;
  for (int i = 0; i < 20 && refusal.empty(); ++i) {
    try {
      pool.push_back(
          std::make_unique<TestConnection>(cluster.conninfo(port, "postgres", "pgvigil_monitor")));
    } catch (const std::exception& e) {
      refusal = e.what();
    }
  }
  INFO("refusal: " << refusal);
  REQUIRE_FALSE(refusal.empty());
  const auto alert = scenario.detect("PostgresConnectionsExhausted", {{"target", "db"}}, filled,
                                     30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("runbook_url"), "PostgresConnectionsExhausted.md"));
  // pgvigil holds its own connection: it keeps reporting through the outage.
  CHECK(daemon.metric("pg_up", {{"target", "db"}}) == 1.0);
  CHECK(daemon.metric("pg_connections_utilization_ratio", {{"target", "db"}}).value_or(0) >= 1.0);
  scenario.note(std::to_string(pool.size()) + " idle client sessions");

  // The runbook's emergency step: terminate the idle sessions.
  TestConnection admin(cluster.conninfo(port));
  const auto terminated = SteadyClock::now();
  admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'pgvigil_monitor' "
      "AND state = 'idle' AND application_name <> 'pgvigil' AND pid <> pg_backend_pid() "
      "AND backend_type = 'client backend' AND query NOT ILIKE '%pg_stat%'");
  pool.clear();
  scenario.resolve("PostgresConnectionsExhausted", {{"target", "db"}}, terminated, 30s,
                   daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE(
    "scenario 5: a session idle in transaction pages PostgresIdleInTransaction with its pid") {
  Scenario scenario({5,
                     "Idle in transaction: a client opens a transaction and goes quiet",
                     "003 scenario 1 (kill idle connections); 000 Scenario E",
                     "PostgresIdleInTransaction (severity=warning; pid in evidence)",
                     "PostgresIdleInTransaction threshold 5m → 5s",
                     {}});
  PgCluster cluster;
  const int port = cluster.primary_port();
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresIdleInTransaction", {{"threshold", "\"5s\""}}),
                             target_toml("db", cluster, port)));
  wait_up(daemon);

  TestConnection idle(cluster.conninfo(port));
  const int pid = idle.backend_pid();
  const auto opened = SteadyClock::now();
  idle.query("BEGIN");
  idle.query("SELECT 1 /* scenario-5 forgotten transaction */");
  const auto alert =
      scenario.detect("PostgresIdleInTransaction", {{"target", "db"}}, opened, 40s, daemon.log());
  CHECK(alert.label("severity") == "warning");
  INFO("evidence: " << alert.annotation("evidence"));
  CHECK(contains(alert.annotation("evidence"), std::to_string(pid)));
  CHECK(since(opened) >= 5s);  // never before the threshold

  TestConnection admin(cluster.conninfo(port));
  const auto terminated = SteadyClock::now();
  admin.query("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  scenario.resolve("PostgresIdleInTransaction", {{"target", "db"}}, terminated, 30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 6: long pg_sleep queries page PostgresLongRunningQuery with the query text") {
  Scenario scenario({6,
                     "Long-running query / slow-query storm: three pg_sleep sessions",
                     "002 scenario 2 (slow queries); 003 scenario 1 (queries > 5 minutes)",
                     "PostgresLongRunningQuery (severity=warning; pid and query text in evidence)",
                     "PostgresLongRunningQuery threshold 5m → 5s",
                     {}});
  PgCluster cluster;
  const int port = cluster.primary_port();
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresLongRunningQuery", {{"threshold", "\"5s\""}}),
                             target_toml("db", cluster, port)));
  wait_up(daemon);

  std::vector<std::unique_ptr<TestConnection>> sleepers;
  std::vector<int> pids;
  const auto started = SteadyClock::now();
  for (int i = 0; i < 3; ++i) {
    sleepers.push_back(std::make_unique<TestConnection>(cluster.conninfo(port)));
    pids.push_back(sleepers.back()->backend_pid());
    sleepers.back()->send("SELECT pg_sleep(120) /* scenario-6 report " + std::to_string(i) + " */");
  }
  const auto alert =
      scenario.detect("PostgresLongRunningQuery", {{"target", "db"}}, started, 40s, daemon.log());
  const auto evidence = alert.annotation("evidence");
  INFO("evidence: " << evidence);
  CHECK(alert.label("severity") == "warning");
  CHECK(contains(evidence, "SELECT pg_sleep(120) /* scenario-6 report"));
  CHECK(contains(evidence, "pid " + std::to_string(pids.front())));
  CHECK(since(started) >= 5s);

  TestConnection admin(cluster.conninfo(port));
  const auto cancelled = SteadyClock::now();
  for (const int pid : pids) admin.query("SELECT pg_cancel_backend(" + std::to_string(pid) + ")");
  scenario.resolve("PostgresLongRunningQuery", {{"target", "db"}}, cancelled, 30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 7: a row lock held open pages PostgresLockContention with the blocking chain") {
  Scenario scenario(
      {7,
       "Lock contention: one session holds a row lock, another waits",
       "002 scenario 2 (high latency); 003 scenario 1 (long-running queries)",
       "PostgresLockContention (severity=warning; blocker and waiter pids in evidence)",
       "PostgresLockContention threshold 1m → 2s",
       {}});
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int)");
  admin.query("INSERT INTO accounts VALUES (1, 100)");
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("PostgresLockContention", {{"threshold", "\"2s\""}}),
                             target_toml("db", cluster, port)));
  wait_up(daemon);

  TestConnection holder(cluster.conninfo(port));
  TestConnection waiter(cluster.conninfo(port));
  holder.query("BEGIN");
  holder.query("UPDATE accounts SET balance = balance - 1 WHERE id = 1");
  const auto blocked = SteadyClock::now();
  waiter.send("UPDATE accounts SET balance = balance + 1 WHERE id = 1 /* scenario-7 waiter */");
  const auto alert =
      scenario.detect("PostgresLockContention", {{"target", "db"}}, blocked, 40s, daemon.log());
  const auto evidence = alert.annotation("evidence");
  INFO("evidence: " << evidence);
  CHECK(alert.label("severity") == "warning");
  CHECK(contains(evidence, std::to_string(holder.backend_pid())));
  CHECK(contains(evidence, std::to_string(waiter.backend_pid())));
  CHECK(since(blocked) >= 2s);

  // The blocker finishes (the runbook: end the blocking transaction).
  const auto released = SteadyClock::now();
  holder.query("COMMIT");
  waiter.query("SELECT 1");  // the waiter's UPDATE completes first
  scenario.resolve("PostgresLockContention", {{"target", "db"}}, released, 30s, daemon.log());
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
