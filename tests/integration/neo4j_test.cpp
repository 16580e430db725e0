// Issue 19: Neo4j targets (kind = "neo4j") with the real daemon against
// tests/support/neo4j_fixture_server: a STAND-IN that answers with the
// shapes of Neo4j's manuals (tests/data/neo4j/), because no Neo4j server can
// be installed here. Every down reason, up with its metrics, 503 and back,
// the database unavailable, the cluster without a leader, reload, and the
// password kept out of everything. Rounds every 200 ms, so each case takes
// a second or two.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "config/http_url.hpp"
#include "support/daemon_process.hpp"
#include "support/neo4j_fixture_server.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::wait_until;
using Fixture = pgvigil::test::Neo4jFixtureServer;
using Mode = Fixture::Mode;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string neo4j_config(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n[alerting]\nevaluation_interval = \"200ms\"\n"
         "[alerting.rules.Neo4jDown]\nfor = \"0s\"\n"
         "[alerting.rules.Neo4jDatabaseUnavailable]\nfor = \"0s\"\n"
         "[alerting.rules.Neo4jNoWritableMember]\nfor = \"0s\"\n" +
         targets;
}

std::string neo4j_target(const std::string& name, int port, const std::string& extra = {}) {
  return "[[target]]\nname = \"" + name +
         "\"\nkind = \"neo4j\"\naddress = \"127.0.0.1:" + std::to_string(port) +
         "\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n" + extra;
}

bool firing(const DaemonProcess& daemon, const std::string& alertname) {
  return daemon.metric("pgvigil_alert_active", {{"alertname", alertname}, {"alertstate", "firing"}})
             .value_or(0) == 1.0;
}

bool up(const DaemonProcess& daemon, const std::string& target) {
  return daemon.metric("neo4j_up", {{"target", target}}) == 1.0;
}

bool down_because(const DaemonProcess& daemon, const std::string& target,
                  const std::string& reason) {
  return daemon.metric("neo4j_up", {{"target", target}}) == 0.0 &&
         daemon.metric("neo4j_connection_failure", {{"target", target}, {"reason", reason}}) == 1.0;
}

void dump(const DaemonProcess& daemon, const Fixture& fixture) {
  std::cerr << "---- daemon log\n" << daemon.log() << "---- /metrics (neo4j)\n";
  const auto metrics = daemon.metrics();
  std::size_t start = 0;
  while (start < metrics.size()) {
    const auto end = metrics.find('\n', start);
    const auto line = metrics.substr(start, end - start);
    if (line.starts_with("neo4j_") || line.starts_with("pgvigil_alert_active"))
      std::cerr << line << "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::cerr << "---- fixture requests\n";
  for (const auto& request : fixture.requests()) std::cerr << request << "\n";
}

// Waits for `condition`; on failure prints what the daemon and the fixture saw.
bool eventually(const DaemonProcess& daemon, const Fixture& fixture,
                const std::function<bool()>& condition, std::chrono::milliseconds limit = 5s) {
  if (wait_until(condition, limit, 20ms)) return true;
  dump(daemon, fixture);
  return false;
}

}  // namespace

TEST_CASE(
    "neo4j: a Community server is up with its metrics and its missing cluster endpoints "
    "are asked once") {
  Fixture fixture(Mode::community);
  DaemonProcess daemon(neo4j_config(neo4j_target("graph", fixture.port())));
  const auto first = wait_until([&] { return up(daemon, "graph"); }, 10s, 20ms);
  if (!first) dump(daemon, fixture);
  REQUIRE(first);
  std::cout << "neo4j_up 1 after " << first->count() << " ms from daemon start\n";
  CHECK(daemon.metric("neo4j_version_info",
                      {{"target", "graph"}, {"version", "5.26.0"}, {"edition", "community"}}) ==
        1.0);
  CHECK(daemon.metric("neo4j_database_available", {{"target", "graph"}, {"database", "neo4j"}}) ==
        1.0);
  const auto rtt = daemon.metric("neo4j_query_rtt_seconds", {{"target", "graph"}});
  REQUIRE(rtt.has_value());
  CHECK(*rtt > 0);
  CHECK(*rtt < 1.0);
  CHECK(daemon.metric("neo4j_connection_failure", {{"target", "graph"}, {"reason", "none"}}) ==
        1.0);
  // Community has no writable endpoint and no cluster status.
  const auto metrics = daemon.metrics();
  CHECK(pgvigil::test::metric_series(metrics, "neo4j_database_writable") == 0);
  CHECK(pgvigil::test::metric_series(metrics, "neo4j_cluster_leader_known") == 0);

  // Several rounds later the 404 is still remembered: asked once each.
  REQUIRE(eventually(daemon, fixture,
                     [&] { return fixture.request_count("POST /db/neo4j/tx/commit") >= 4; }));
  CHECK(fixture.request_count("GET /db/neo4j/cluster/available") == 1);
  CHECK(fixture.request_count("GET /dbms/cluster/status") == 1);
  CHECK(fixture.request_count("GET /db/neo4j/cluster/writable") == 0);
  CHECK(fixture.request_count("GET /") >= 4);
}

TEST_CASE(
    "neo4j: an Enterprise member that leads is writable, and a leaderless cluster fires "
    "Neo4jNoWritableMember") {
  Fixture fixture(Mode::enterprise_leader);
  DaemonProcess daemon(neo4j_config(neo4j_target("member-1", fixture.port())));
  REQUIRE(eventually(daemon, fixture, [&] {
    return daemon.metric("neo4j_cluster_leader_known",
                         {{"target", "member-1"}, {"database", "neo4j"}}) == 1.0;
  }));
  CHECK(up(daemon, "member-1"));
  CHECK(daemon.metric("neo4j_version_info", {{"target", "member-1"}, {"edition", "enterprise"}}) ==
        1.0);
  CHECK(daemon.metric("neo4j_database_writable", {{"target", "member-1"}, {"database", "neo4j"}}) ==
        1.0);
  CHECK(daemon.metric("neo4j_cluster_voting_members",
                      {{"target", "member-1"}, {"database", "neo4j"}}) == 3.0);
  CHECK(daemon.metric("neo4j_cluster_member_healthy",
                      {{"target", "member-1"}, {"database", "system"}}) == 1.0);
  CHECK_FALSE(firing(daemon, "Neo4jNoWritableMember"));

  fixture.set_mode(Mode::enterprise_no_leader);
  REQUIRE(eventually(daemon, fixture, [&] { return firing(daemon, "Neo4jNoWritableMember"); }));
  CHECK(daemon.metric("neo4j_database_writable", {{"target", "member-1"}, {"database", "neo4j"}}) ==
        0.0);
  CHECK(up(daemon, "member-1"));  // the server answers queries; writes have nowhere to go
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=Neo4jNoWritableMember");
  CHECK(contains(api.body, "\"database\":\"neo4j\""));
  CHECK(contains(api.body, "voting members: 3"));
  CHECK(contains(api.body, "48.213 s ago"));

  fixture.set_mode(Mode::enterprise_leader);
  CHECK(eventually(daemon, fixture, [&] { return !firing(daemon, "Neo4jNoWritableMember"); }));
}

TEST_CASE(
    "neo4j: basic auth from password_file, a wrong password is auth_failed, and neither "
    "password shows anywhere") {
  const std::string password = "s3cret-neo4j-pw-4711";
  const std::string wrong = "wr0ng-neo4j-pw-0815";
  Fixture fixture(Mode::community, password);
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-neo4j-auth");
  pgvigil::test::write_file(dir + "/right.pw", password + "\n");
  pgvigil::test::write_file(dir + "/wrong.pw", wrong + "\n");
  DaemonProcess daemon(
      neo4j_config(neo4j_target("good", fixture.port(),
                                "user = \"neo4j\"\npassword_file = \"" + dir + "/right.pw\"\n") +
                   neo4j_target("bad", fixture.port(),
                                "user = \"neo4j\"\npassword_file = \"" + dir + "/wrong.pw\"\n") +
                   neo4j_target("none", fixture.port())));

  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "good"); }));
  CHECK(eventually(daemon, fixture, [&] { return down_because(daemon, "bad", "auth_failed"); }));
  // No credentials against a server with auth on: 401 too.
  CHECK(eventually(daemon, fixture, [&] { return down_because(daemon, "none", "auth_failed"); }));
  CHECK(eventually(daemon, fixture, [&] { return firing(daemon, "Neo4jDown"); }));

  // The fixture saw the right header (so the password did go out, once per
  // request, as basic auth) and the wrong one.
  const auto right_header = pgvigil::config::basic_authorization("neo4j", password);
  const auto wrong_header = pgvigil::config::basic_authorization("neo4j", wrong);
  const auto headers = fixture.authorizations();
  CHECK(std::find(headers.begin(), headers.end(), right_header) != headers.end());
  CHECK(std::find(headers.begin(), headers.end(), wrong_header) != headers.end());
  // Discovery is asked without credentials.
  CHECK(fixture.request_count("GET /") > 0);

  const auto metrics = daemon.metrics();
  const auto alerts = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=Neo4jDown");
  CHECK(contains(alerts.body, "Neo.ClientError.Security.Unauthorized"));
  const auto status = pgvigil::test::http_get(daemon.port(), "/");
  const auto targets = pgvigil::test::http_get(daemon.port(), "/api/v1/targets");
  const auto log = daemon.log();
  for (const auto& secret : {password, wrong, right_header.substr(6), wrong_header.substr(6)}) {
    INFO("secret " << secret);
    CHECK_FALSE(contains(metrics, secret));
    CHECK_FALSE(contains(alerts.body, secret));
    CHECK_FALSE(contains(status.body, secret));
    CHECK_FALSE(contains(targets.body, secret));
    CHECK_FALSE(contains(log, secret));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("neo4j: 503 while starting is unavailable and Neo4jDown fires until it answers again") {
  Fixture fixture(Mode::community);
  DaemonProcess daemon(neo4j_config(neo4j_target("graph", fixture.port())));
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));

  const auto switched = std::chrono::steady_clock::now();
  fixture.set_mode(Mode::starting);
  REQUIRE(
      eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "unavailable"); }));
  std::cout << "neo4j_up 0 (unavailable) "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - switched)
                   .count()
            << " ms after the fixture began answering 503\n";
  // The server's series go while it does not answer; neo4j_up stays.
  CHECK_FALSE(daemon.metric("neo4j_version_info", {{"target", "graph"}, {"edition", "community"}})
                  .has_value());
  REQUIRE(eventually(daemon, fixture, [&] { return firing(daemon, "Neo4jDown"); }));
  const auto api = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=Neo4jDown");
  CHECK(contains(api.body, "\"reason\":\"unavailable\""));
  CHECK(contains(api.body, "HTTP 503"));

  const auto back_at = std::chrono::steady_clock::now();
  fixture.set_mode(Mode::community);
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
  std::cout << "neo4j_up 1 again "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - back_at)
                   .count()
            << " ms after the fixture answered again\n";
  CHECK(eventually(daemon, fixture, [&] { return !firing(daemon, "Neo4jDown"); }));
  CHECK(daemon
            .metric("neo4j_connection_failures_total",
                    {{"target", "graph"}, {"reason", "unavailable"}})
            .value_or(0) >= 1.0);
}

TEST_CASE(
    "neo4j: an unavailable database keeps the server's series and fires "
    "Neo4jDatabaseUnavailable instead of Neo4jDown") {
  Fixture fixture(Mode::database_unavailable);
  DaemonProcess daemon(neo4j_config(neo4j_target("graph", fixture.port())));
  REQUIRE(
      eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "unavailable"); }));
  REQUIRE(eventually(daemon, fixture, [&] {
    return daemon.metric("neo4j_database_available",
                         {{"target", "graph"}, {"database", "neo4j"}}) == 0.0;
  }));
  CHECK(daemon.metric("neo4j_version_info", {{"target", "graph"}, {"edition", "community"}}) ==
        1.0);
  REQUIRE(eventually(daemon, fixture, [&] { return firing(daemon, "Neo4jDatabaseUnavailable"); }));
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=Neo4jDatabaseUnavailable");
  CHECK(contains(api.body, "DatabaseUnavailable"));
  // Several evaluations later the generic alert has still not joined it.
  std::this_thread::sleep_for(600ms);
  CHECK_FALSE(firing(daemon, "Neo4jDown"));

  fixture.set_mode(Mode::community);
  CHECK(eventually(daemon, fixture, [&] {
    return daemon.metric("neo4j_database_available",
                         {{"target", "graph"}, {"database", "neo4j"}}) == 1.0;
  }));
  CHECK(eventually(daemon, fixture, [&] { return !firing(daemon, "Neo4jDatabaseUnavailable"); }));
}

TEST_CASE("neo4j: non-JSON and oversized replies are protocol and the session recovers") {
  Fixture fixture(Mode::not_json);
  DaemonProcess daemon(neo4j_config(neo4j_target("graph", fixture.port())));
  REQUIRE(eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "protocol"); }));
  fixture.set_mode(Mode::community);
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
  fixture.set_mode(Mode::oversized);
  REQUIRE(eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "protocol"); }));
  CHECK(contains(daemon.log(), "over the size limit"));
  fixture.set_mode(Mode::community);
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
  CHECK(
      daemon
          .metric("neo4j_connection_failures_total", {{"target", "graph"}, {"reason", "protocol"}})
          .value_or(0) >= 2.0);
}

TEST_CASE(
    "neo4j: refused while the port is closed, timeout when nothing answers, dns for a "
    "name that does not resolve") {
  Fixture fixture(Mode::community);
  DaemonProcess daemon(neo4j_config(
      neo4j_target("graph", fixture.port()) +
      "[[target]]\nname = \"nowhere\"\nkind = \"neo4j\"\naddress = \"no-such-host.invalid:7474\"\n"
      "interval = \"200ms\"\ntimeout = \"2s\"\n"));
  // From the first scrape on, neo4j_up is there for both.
  CHECK(daemon.metric("neo4j_up", {{"target", "nowhere"}}).has_value());
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
  CHECK(eventually(
      daemon, fixture, [&] { return down_because(daemon, "nowhere", "dns"); }, 10s));

  fixture.stop();
  REQUIRE(eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "refused"); }));
  fixture.start();
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));

  fixture.set_mode(Mode::silent);  // timeout = 1s per request
  const auto silent_at = std::chrono::steady_clock::now();
  REQUIRE(eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "timeout"); }));
  const auto took = std::chrono::steady_clock::now() - silent_at;
  CHECK(took >= 800ms);  // not before the deadline (1 s, minus one interval of polling slack)
  CHECK(contains(daemon.log(), "timed out after 1000 ms"));
  fixture.set_mode(Mode::community);
  CHECK(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
}

TEST_CASE(
    "neo4j: a reload that changes labels keeps the session, one that changes the database "
    "replaces it") {
  Fixture fixture(Mode::community);
  DaemonProcess daemon(neo4j_config(neo4j_target("graph", fixture.port())));
  REQUIRE(eventually(daemon, fixture, [&] { return up(daemon, "graph"); }));
  const auto rewrite = [&](std::string text) {
    for (auto at = text.find("@STATE@"); at != std::string::npos; at = text.find("@STATE@"))
      text.replace(at, 7, daemon.dir() + "/state");
    pgvigil::test::write_file(daemon.config_path(), text);
  };

  rewrite(neo4j_config(neo4j_target("graph", fixture.port(), "labels = { env = \"x\" }\n")));
  daemon.signal(SIGHUP);
  REQUIRE(eventually(daemon, fixture, [&] {
    return daemon.metric("neo4j_version_info", {{"target", "graph"}, {"env", "x"}}) == 1.0 &&
           daemon.metric("neo4j_up", {{"target", "graph"}, {"env", "x"}}) == 1.0;
  }));
  // The same session: it still remembers that the server has no cluster endpoints.
  const auto tx_before = fixture.request_count("POST /db/neo4j/tx/commit");
  REQUIRE(eventually(daemon, fixture, [&] {
    return fixture.request_count("POST /db/neo4j/tx/commit") >= tx_before + 3;
  }));
  CHECK(fixture.request_count("GET /db/neo4j/cluster/available") == 1);

  // Another database is another session: it asks from scratch, and this one
  // does not exist on the server.
  rewrite(neo4j_config(neo4j_target("graph", fixture.port(), "database = \"movies\"\n")));
  daemon.signal(SIGHUP);
  REQUIRE(eventually(daemon, fixture, [&] { return down_because(daemon, "graph", "other"); }));
  CHECK(fixture.request_count("GET /db/movies/cluster/available") >= 1);
  CHECK(contains(daemon.log(), "DatabaseNotFound"));
}
