// Runbook scenario 17: connection pool exhaustion behind pgbouncer (the Dash
// failover runbook's "Connection Pool Exhaustion"): more clients than the
// pool's server connections, each running a long query.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"
#include "support/pgbouncer_server.hpp"

using namespace std::chrono_literals;
using pgvigil::scenarios::contains;
using pgvigil::scenarios::rule_toml;
using pgvigil::scenarios::Scenario;
using pgvigil::scenarios::SteadyClock;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgbouncerServer;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

TEST_CASE("scenario 17: pg_sleep clients beyond pool_size page PgbouncerClientsWaiting") {
  Scenario scenario({17,
                     "pgbouncer pool exhausted: 4 clients run pg_sleep(5) through a pool of 2",
                     "001 scenario 4 (connection pool exhaustion, pg_pool); 003 scenario 1",
                     "PgbouncerClientsWaiting (severity=warning; database, user; pool in evidence)",
                     "pool_size 2; PgbouncerClientsWaiting threshold 5s → 1s, for 1m → 1s",
                     {}});
  PgCluster cluster;
  PgbouncerServer bouncer(cluster, {.pool_size = 2});
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("PgbouncerClientsWaiting", {{"threshold", "1"}, {"for", "\"1s\""}}),
      "[[target]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\naddress = \"127.0.0.1:" +
          std::to_string(bouncer.port()) + "\"\nuser = \"" + bouncer.admin_user() +
          "\"\npassword_file = \"" + bouncer.admin_password_file() + "\"\ninterval = \"250ms\"\n"));
  const std::map<std::string, std::string> pool{
      {"target", "bouncer"}, {"database", "postgres"}, {"user", "postgres"}};
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pgbouncer_up", {{"target", "bouncer"}}) == 1.0;
      },
      20s));

  // The first two clients take both server connections of the pool ...
  const auto conninfo = cluster.conninfo(bouncer.port(), "postgres");
  std::vector<std::unique_ptr<TestConnection>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<TestConnection>(conninfo));
  clients[0]->send("SELECT pg_sleep(5) /* scenario-17 */");
  clients[1]->send("SELECT pg_sleep(5) /* scenario-17 */");
  REQUIRE(wait_until(
      [&] { return daemon.metric("pgbouncer_pools_server_active_connections", pool) == 2.0; },
      10s));
  // ... and the next two queue behind them.
  const auto queued = SteadyClock::now();
  clients[2]->send("SELECT pg_sleep(5) /* scenario-17 */");
  clients[3]->send("SELECT pg_sleep(5) /* scenario-17 */");
  const auto alert = scenario.detect("PgbouncerClientsWaiting", pool, queued, 20s, daemon.log());
  CHECK(alert.label("severity") == "warning");
  CHECK(contains(alert.annotation("runbook_url"), "PgbouncerClientsWaiting.md"));
  const auto evidence = alert.annotation("evidence");
  INFO("evidence: " << evidence);
  CHECK(contains(evidence, "pool: postgres/postgres (pool_mode transaction)"));
  CHECK(contains(evidence, "waiting clients: 2"));
  CHECK(contains(evidence, "server connections in use: 2 of pool_size 2"));
  CHECK(SteadyClock::now() - queued >= 2s);  // threshold 1 s + for 1 s, never earlier

  // The first two finish: the queued clients get their server connections.
  clients[0]->query("SELECT 1");
  clients[1]->query("SELECT 1");
  const auto finished = SteadyClock::now();
  scenario.resolve("PgbouncerClientsWaiting", pool, finished, 20s, daemon.log());
  CHECK(daemon.metric("pgbouncer_pools_client_waiting_connections", pool) == 0.0);
  scenario.note("2 of 4 clients waited; resolution from the first two pg_sleep(5) ending");
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
