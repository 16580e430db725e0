// The pgbouncer rules as the daemon evaluates them: which pools they find and
// the evidence they attach (their PromQL twins: alerts/tests/pgbouncer.yml).
#include <doctest/doctest.h>

#include "alerts/labels.hpp"
#include "alerts/rules.hpp"
#include "fake_source.hpp"

using namespace pgvigil;
using namespace pgvigil::alerts;

namespace {

std::vector<Finding> evaluate(const std::string& name, const test::FakeSource& source) {
  const auto* rule = find_rule(name);
  REQUIRE(rule != nullptr);
  const auto params = resolve_params(*rule, nullptr);
  TargetFacts facts;
  facts.name = "bouncer";
  facts.up = true;
  facts.reason = "none";
  RuleMemory memory;
  const RuleContext ctx{source, facts, params, Clock::now(), memory};
  return rule->evaluate(ctx);
}

Labels pool(const std::string& database, const std::string& user) {
  return {{"database", database}, {"user", user}};
}

// Two pools of database app (pool_size 20): web queues, batch does not.
test::FakeSource two_pools() {
  test::FakeSource source;
  source.set("bouncer", "pgbouncer_pools_client_maxwait_seconds", pool("app", "web"), 7.5);
  source.set("bouncer", "pgbouncer_pools_client_maxwait_seconds", pool("app", "batch"), 4);
  source.set("bouncer", "pgbouncer_pools_client_waiting_connections", pool("app", "web"), 3);
  source.set("bouncer", "pgbouncer_pools_client_active_connections", pool("app", "web"), 20);
  source.set("bouncer", "pgbouncer_pools_server_active_connections", pool("app", "web"), 20);
  source.set("bouncer", "pgbouncer_pools_server_active_connections", pool("app", "batch"), 19);
  source.set("bouncer", "pgbouncer_pools_server_idle_connections", pool("app", "web"), 0);
  source.set("bouncer", "pgbouncer_pools_server_login_connections", pool("app", "web"), 0);
  source.set("bouncer", "pgbouncer_databases_pool_size",
             {{"name", "app"}, {"database", "appdb"}, {"pool_mode", "transaction"}}, 20);
  return source;
}

}  // namespace

TEST_CASE("pgbouncer rules: clients waiting past the threshold, per pool, with the evidence") {
  const auto findings = evaluate("PgbouncerClientsWaiting", two_pools());
  REQUIRE(findings.size() == 1);
  CHECK(label_value(findings[0].labels, "database") == "app");
  CHECK(label_value(findings[0].labels, "user") == "web");
  CHECK(findings[0].value == 7.5);
  CHECK(findings[0].evidence ==
        "pool: app/web (pool_mode transaction)\nwaiting clients: 3\nlongest wait: 7.5 s\n"
        "active clients: 20\nserver connections in use: 20 of pool_size 20 (idle 0, logging in "
        "0)\n");
}

TEST_CASE("pgbouncer rules: a pool at its pool_size is saturated, one below it is not") {
  auto source = two_pools();
  auto findings = evaluate("PgbouncerPoolSaturated", source);
  REQUIRE(findings.size() == 1);
  CHECK(label_value(findings[0].labels, "user") == "web");
  CHECK(findings[0].value == 20);
  // pool_size 0 (a database pgbouncer does not limit) is never saturated.
  source.set("bouncer", "pgbouncer_databases_pool_size",
             {{"name", "app"}, {"database", "appdb"}, {"pool_mode", "transaction"}}, 0);
  CHECK(evaluate("PgbouncerPoolSaturated", source).empty());
  // Without its database's row there is nothing to compare with.
  source.clear("bouncer", "pgbouncer_databases_pool_size");
  CHECK(evaluate("PgbouncerPoolSaturated", source).empty());
}

TEST_CASE("pgbouncer rules: down with the reason of the state set") {
  test::FakeSource source;
  source.set("bouncer", "pgbouncer_up", {}, 0);
  source.set("bouncer", "pgbouncer_connection_failure", {{"reason", "none"}}, 0);
  source.set("bouncer", "pgbouncer_connection_failure", {{"reason", "auth_failed"}}, 1);
  const auto findings = evaluate("PgbouncerDown", source);
  REQUIRE(findings.size() == 1);
  CHECK(label_value(findings[0].labels, "reason") == "auth_failed");
  source.set("bouncer", "pgbouncer_up", {}, 1);
  CHECK(evaluate("PgbouncerDown", source).empty());
}
