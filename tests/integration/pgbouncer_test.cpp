// Issue 19: pgbouncer targets (kind = "pgbouncer") against a real pgbouncer
// 1.18 (Debian's /usr/sbin/pgbouncer; tests/support/pgbouncer_server) in
// front of the fixture's PostgreSQL: pool metrics that follow real clients,
// SIGKILL and restart, a reload that keeps the session, and every down reason
// a real condition gives (refused, auth_failed, tls, timeout, dns) without
// the password anywhere.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"
#include "support/pgbouncer_server.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgbouncerServer;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string bouncer_config(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n[alerting]\nevaluation_interval = \"200ms\"\n"
         "[alerting.rules.PgbouncerDown]\nfor = \"0s\"\n"
         "[alerting.rules.PgbouncerClientsWaiting]\nfor = \"0s\"\nthreshold = 0.5\n" +
         targets;
}

std::string bouncer_target(const std::string& name, int port, const std::string& extra = {}) {
  return "[[target]]\nname = \"" + name +
         "\"\nkind = \"pgbouncer\"\naddress = \"127.0.0.1:" + std::to_string(port) +
         "\"\nuser = \"pgvigil_admin\"\ninterval = \"200ms\"\n" + extra;
}

std::string admin_target(const std::string& name, const PgbouncerServer& bouncer,
                         const std::string& extra = {}) {
  return bouncer_target(
      name, bouncer.port(),
      "password_file = \"" + bouncer.admin_password_file() + "\"\ntimeout = \"2s\"\n" + extra);
}

bool down_because(const DaemonProcess& daemon, const std::string& target,
                  const std::string& reason) {
  return daemon.metric("pgbouncer_up", {{"target", target}}) == 0.0 &&
         daemon.metric("pgbouncer_connection_failure", {{"target", target}, {"reason", reason}}) ==
             1.0;
}

std::optional<double> pool_metric(const DaemonProcess& daemon, const std::string& name,
                                  const std::map<std::string, std::string>& extra = {}) {
  std::map<std::string, std::string> labels{
      {"target", "bouncer"}, {"database", "postgres"}, {"user", "postgres"}};
  labels.insert(extra.begin(), extra.end());
  return daemon.metric(name, labels);
}

void dump_on_failure(const DaemonProcess& daemon, const PgbouncerServer& bouncer) {
  std::cerr << "---- daemon log\n" << daemon.log() << "---- /metrics (pgbouncer)\n";
  const auto metrics = daemon.metrics();
  std::size_t start = 0;
  while (start < metrics.size()) {
    const auto end = metrics.find('\n', start);
    const auto line = metrics.substr(start, end - start);
    if (line.starts_with("pgbouncer_") || line.starts_with("pgvigil_alert_active"))
      std::cerr << line << "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::cerr << "---- pgbouncer log\n" << bouncer.log();
}

// The client port of pgvigil's own admin-console connection (SHOW CLIENTS),
// or "" when there is none: the same port means the same connection.
std::string pgvigil_client_port(const PgbouncerServer& bouncer) {
  TestConnection admin("host=127.0.0.1 port=" + std::to_string(bouncer.port()) +
                       " dbname=pgbouncer user=" + bouncer.admin_user() +
                       " password=" + bouncer.admin_password());
  PGresult* result = PQexec(admin.raw(), "SHOW CLIENTS");
  std::string port;
  const int app = PQfnumber(result, "application_name");
  const int port_column = PQfnumber(result, "port");
  for (int row = 0; app >= 0 && port_column >= 0 && row < PQntuples(result); ++row)
    if (std::string(PQgetvalue(result, row, app)) == "pgvigil")
      port = PQgetvalue(result, row, port_column);
  PQclear(result);
  return port;
}

}  // namespace

TEST_CASE("pgbouncer: pool metrics follow real clients and a waiting client fires the alert") {
  PgCluster cluster;
  PgbouncerServer bouncer(cluster, {.pool_size = 2});
  DaemonProcess daemon(bouncer_config(admin_target("bouncer", bouncer)));

  const auto first = wait_until(
      [&] {
        return daemon.metric("pgbouncer_up", {{"target", "bouncer"}}) == 1.0;
      },
      10s);
  if (!first) dump_on_failure(daemon, bouncer);
  REQUIRE(first);
  std::cout << "pgbouncer_up 1 after " << first->count() << " ms from daemon start\n";
  CHECK(daemon.metric("pgbouncer_version_info", {{"target", "bouncer"}, {"version", "1.18.0"}}) ==
        1.0);
  CHECK(daemon.metric("pgbouncer_connection_failure",
                      {{"target", "bouncer"}, {"reason", "none"}}) == 1.0);
  CHECK(daemon.metric(
            "pgbouncer_databases_pool_size",
            {{"target", "bouncer"}, {"name", "postgres"}, {"pool_mode", "transaction"}}) == 2.0);
  CHECK(daemon.metric("pgbouncer_config_max_client_connections", {{"target", "bouncer"}}) == 100.0);

  // Two clients in open transactions hold both server connections of the
  // pool; a third one's query waits for one of them.
  const auto through_bouncer = cluster.conninfo(bouncer.port(), "postgres");
  std::vector<std::unique_ptr<TestConnection>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<TestConnection>(through_bouncer));
  clients[0]->query("BEGIN");
  clients[0]->query("SELECT 1");
  clients[1]->query("BEGIN");
  clients[1]->query("SELECT 1");
  clients[2]->send("SELECT 1");

  const bool waiting =
      wait_until(
          [&] {
            return pool_metric(daemon, "pgbouncer_pools_client_waiting_connections") == 1.0 &&
                   pool_metric(daemon, "pgbouncer_pools_server_active_connections") == 2.0;
          },
          10s)
          .has_value();
  if (!waiting) dump_on_failure(daemon, bouncer);
  REQUIRE(waiting);
  CHECK(pool_metric(daemon, "pgbouncer_pools_client_active_connections").value_or(0) >= 2.0);
  // The wait shows in maxwait, and past 0.5 s the alert fires with the pool.
  const bool fired =
      wait_until(
          [&] {
            return daemon
                       .metric("pgvigil_alert_active",
                               {{"alertname", "PgbouncerClientsWaiting"}, {"alertstate", "firing"}})
                       .value_or(0) == 1.0;
          },
          10s)
          .has_value();
  if (!fired) dump_on_failure(daemon, bouncer);
  REQUIRE(fired);
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PgbouncerClientsWaiting");
  CHECK(contains(api.body, "pool: postgres/postgres (pool_mode transaction)"));
  CHECK(contains(api.body, "waiting clients: 1"));
  CHECK(contains(api.body, "server connections in use: 2 of pool_size 2"));

  // Ending one transaction serves the waiting client: nobody waits any more.
  clients[0]->query("COMMIT");
  CHECK(clients[2]->query("SELECT 2").size() == 1);
  CHECK(wait_until(
      [&] {
        return pool_metric(daemon, "pgbouncer_pools_client_waiting_connections") == 0.0 &&
               pool_metric(daemon, "pgbouncer_pools_client_maxwait_seconds") == 0.0;
      },
      5s));
  CHECK(wait_until(
      [&] {
        return daemon
                   .metric("pgbouncer_stats_queries_pooled_total",
                           {{"target", "bouncer"}, {"database", "postgres"}})
                   .value_or(0) >= 4.0;
      },
      5s));
}

TEST_CASE("pgbouncer: SIGKILL is refused at once, restart is up, a reload keeps the session") {
  PgCluster cluster;
  PgbouncerServer bouncer(cluster);
  DaemonProcess daemon(bouncer_config(admin_target("bouncer", bouncer)));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pgbouncer_up", {{"target", "bouncer"}}) == 1.0;
      },
      10s));
  REQUIRE(daemon.metric("pgbouncer_used_clients", {{"target", "bouncer"}}).has_value());

  // The session watches its idle connection: pgbouncer's end is seen at
  // once and the next attempt is refused.
  const auto killed = std::chrono::steady_clock::now();
  bouncer.kill();
  const auto down =
      wait_until([&] { return down_because(daemon, "bouncer", "refused"); }, 5s, 20ms);
  if (!down) dump_on_failure(daemon, bouncer);
  REQUIRE(down);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed);
  std::cout << "pgbouncer_up 0 (refused) " << took.count() << " ms after SIGKILL\n";
  CHECK(took <= 2000ms);
  // The pool series go with the server; pgbouncer_up stays.
  CHECK_FALSE(daemon.metric("pgbouncer_used_clients", {{"target", "bouncer"}}).has_value());
  CHECK(wait_until(
      [&] {
        return daemon
                   .metric("pgvigil_alert_active",
                           {{"alertname", "PgbouncerDown"}, {"alertstate", "firing"}})
                   .value_or(0) == 1.0;
      },
      5s));

  bouncer.restart();
  const auto back = wait_until(
      [&] {
        return daemon.metric("pgbouncer_up", {{"target", "bouncer"}}) == 1.0;
      },
      10s);
  if (!back) dump_on_failure(daemon, bouncer);
  REQUIRE(back);
  std::cout << "pgbouncer_up 1 again " << back->count() << " ms after restart\n";
  CHECK(contains(daemon.log(), "target bouncer is up: PgBouncer 1.18.0"));

  // A reload that changes only labels keeps pgvigil's connection (the same
  // client port in SHOW CLIENTS), and the series carry the new label.
  const auto before = pgvigil_client_port(bouncer);
  REQUIRE_FALSE(before.empty());
  auto text = bouncer_config(admin_target("bouncer", bouncer, "labels = { env = \"x\" }\n"));
  for (auto at = text.find("@STATE@"); at != std::string::npos; at = text.find("@STATE@"))
    text.replace(at, 7, daemon.dir() + "/state");
  pgvigil::test::write_file(daemon.config_path(), text);
  daemon.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pgbouncer_used_clients", {{"target", "bouncer"}, {"env", "x"}})
            .has_value();
      },
      10s));
  CHECK(daemon.metric("pgbouncer_up", {{"target", "bouncer"}, {"env", "x"}}) == 1.0);
  CHECK(pgvigil_client_port(bouncer) == before);
}

TEST_CASE(
    "pgbouncer: wrong password is auth_failed without the password shown, and refused, tls, "
    "timeout and dns are told apart") {
  PgCluster cluster;
  PgbouncerServer bouncer(cluster);
  const std::string wrong = "wr0ng-pgbouncer-pw-0815";
  const std::string wrong_file = bouncer.dir() + "/wrong.pw";
  pgvigil::test::write_file(wrong_file, wrong + "\n");

  // A socket that listens but never accepts: the kernel completes the TCP
  // handshake from its backlog, then nothing ever answers the startup packet.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(silent >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 16) == 0);
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int silent_port = ntohs(addr.sin_port);

  DaemonProcess daemon(bouncer_config(
      admin_target("good", bouncer) +
      bouncer_target("bad", bouncer.port(), "password_file = \"" + wrong_file + "\"\n") +
      admin_target("tls", bouncer, "tls = true\n") +
      bouncer_target("closed", pgvigil::test::free_loopback_port()) +
      bouncer_target("silent", silent_port, "timeout = \"500ms\"\n") +
      "[[target]]\nname = \"nowhere\"\nkind = \"pgbouncer\"\nuser = \"u\"\n"
      "address = \"no-such-host.invalid:6432\"\ninterval = \"200ms\"\n"));

  const std::map<std::string, std::string> expected{{"bad", "auth_failed"},
                                                    {"tls", "tls"},
                                                    {"closed", "refused"},
                                                    {"silent", "timeout"},
                                                    {"nowhere", "dns"}};
  const bool good = wait_until(
                        [&] {
                          return daemon.metric("pgbouncer_up", {{"target", "good"}}) == 1.0;
                        },
                        10s)
                        .has_value();
  bool all = good;
  for (const auto& entry : expected) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const std::string& target = entry.first;
    const std::string& reason = entry.second;
    INFO("target " << target << " reason " << reason);
    const bool seen =
        wait_until([&] { return down_because(daemon, target, reason); }, 10s).has_value();
    CHECK(seen);
    all = all && seen;
  }
  if (!all) dump_on_failure(daemon, bouncer);
  ::close(silent);
  REQUIRE(good);
  CHECK(wait_until(
      [&] {
        return daemon
                   .metric("pgvigil_alert_active",
                           {{"alertname", "PgbouncerDown"}, {"alertstate", "firing"}})
                   .value_or(0) == 1.0;
      },
      5s));

  const auto metrics = daemon.metrics();
  const auto alerts =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PgbouncerDown");
  const auto status = pgvigil::test::http_get(daemon.port(), "/");
  const auto log = daemon.log();
  CHECK(contains(alerts.body, "auth_failed"));
  CHECK(contains(log, "target bad is down: reason=auth_failed"));
  for (const auto& secret : {wrong, bouncer.admin_password()}) {
    INFO("secret " << secret);
    CHECK_FALSE(contains(metrics, secret));
    CHECK_FALSE(contains(alerts.body, secret));
    CHECK_FALSE(contains(status.body, secret));
    CHECK_FALSE(contains(log, secret));
  }
}
