// Runbook scenario 25: Neo4j down (IntelGraph runbook, seed 003: "Unable to
// connect to Neo4j", pod crash). Against the FIXTURE server
// (tests/support/neo4j_fixture_server), not a real Neo4j, which cannot be
// installed here: its row says so. Id 25 leaves 17-24 to the Redis and
// pgbouncer scenarios of the same issue.
#include <doctest/doctest.h>

#include <filesystem>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/neo4j_fixture_server.hpp"

using namespace std::chrono_literals;
using pgvigil::scenarios::contains;
using pgvigil::scenarios::rule_toml;
using pgvigil::scenarios::Scenario;
using pgvigil::scenarios::SteadyClock;
using pgvigil::test::DaemonProcess;
using pgvigil::test::wait_until;
using Fixture = pgvigil::test::Neo4jFixtureServer;

TEST_CASE("scenario 25: a Neo4j server that stops answering pages Neo4jDown (fixture server)") {
  Scenario scenario({25,
                     "Neo4j down (fixture server, not a real Neo4j): the HTTP port closed, "
                     "then open again",
                     "003 Neo4j failure recovery, scenario 1 (pod crash, \"Unable to connect to "
                     "Neo4j\")",
                     "Neo4jDown (reason=refused, severity=critical; reason in evidence)",
                     "Neo4jDown for 30s → 2s; interval 500ms",
                     {"Neo4jDown"}});
  const std::string password = "scenario-neo4j-pw-2231";
  Fixture fixture(Fixture::Mode::community, password);
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-neo4j-scenario");
  pgvigil::test::write_file(dir + "/neo4j.pw", password + "\n");
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("Neo4jDown", {{"for", "\"2s\""}}),
      "[[target]]\nname = \"graph\"\nkind = \"neo4j\"\naddress = \"127.0.0.1:" +
          std::to_string(fixture.port()) +
          "\"\ninterval = \"500ms\"\ntimeout = \"1s\"\nuser = \"neo4j\"\n"
          "password_file = \"" +
          dir + "/neo4j.pw\"\n"));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("neo4j_up", {{"target", "graph"}}).has_value();
      },
      10s));
  REQUIRE(wait_until([&] { return daemon.metric("neo4j_up", {{"target", "graph"}}) == 1.0; }, 10s));

  // The pod crashed: nothing listens on 7474 any more.
  const auto crashed = SteadyClock::now();
  fixture.stop();
  const auto alert = scenario.detect("Neo4jDown", {{"target", "graph"}, {"reason", "refused"}},
                                     crashed, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("evidence"), "reason: refused"));
  CHECK(contains(alert.annotation("runbook_url"), "/runbooks/Neo4jDown.md"));
  CHECK_FALSE(contains(alert.annotation("evidence"), password));

  // kubectl delete pod; the new pod answers again.
  const auto restarted = SteadyClock::now();
  fixture.start();
  scenario.resolve("Neo4jDown", {{"target", "graph"}, {"reason", "refused"}}, restarted, 30s,
                   daemon.log());
  CHECK(wait_until([&] { return daemon.metric("neo4j_up", {{"target", "graph"}}) == 1.0; }, 10s));
  scenario.check_no_unrelated_critical();
  scenario.passed();
  std::filesystem::remove_all(dir);
}
