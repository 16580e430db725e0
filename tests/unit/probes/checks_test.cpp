#include <doctest/doctest.h>

#include <limits>

#include "data/sql/recorded.hpp"
#include "probes/checks.hpp"

using namespace pgvigil;

namespace {

config::CheckConfig idle_check() {
  config::CheckConfig check;
  check.name = "idle_in_tx";
  check.sql = "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction';";
  check.timeout = config::Duration{2'000};
  check.comparison = config::Comparison::less;
  check.threshold = 1;
  check.expect = "< 1";
  return check;
}

config::CheckConfig slow_check() {
  config::CheckConfig check;
  check.name = "slow";
  check.sql = "SELECT 1 FROM pg_sleep(5)";
  check.timeout = config::Duration{200};
  check.expect = "> 0";
  return check;
}

config::CheckConfig secret_check() {
  config::CheckConfig check;
  check.name = "secret";
  check.sql = "SELECT count(*) FROM pg_authid";
  check.expect = "> 0";
  return check;
}

}  // namespace

TEST_CASE("checks: recorded SQL is the probe's SQL") {
  auto server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  for (const auto& check : {idle_check(), slow_check(), secret_check()})
    recorded::record_or_compare("checks/" + check.name,
                                make_custom_check_probe(check)->queries(ctx));
}

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  SampleSink sink;

  // Only the check statement's reply was recorded: BEGIN, SET and COMMIT
  // return no rows when they succeed.
  std::vector<QueryResult> replies(const config::CheckConfig& check) {
    QueryResult done = QueryResult::from_rows({}, {});
    return {done, done, recorded::load("checks/" + check.name, "check"), done};
  }
  double value(std::string_view name, const Labels& labels) {
    const auto* metric = sink.find(name, labels);
    REQUIRE_MESSAGE(metric != nullptr, name);
    return metric->gauge.value;
  }
};

}  // namespace

TEST_CASE("checks: statements run read-only under the check's own timeout") {
  Fixture f;
  auto queries = make_custom_check_probe(slow_check())->queries(f.ctx);
  REQUIRE(queries.size() == 4);
  CHECK(queries[0].sql == "BEGIN READ ONLY");
  CHECK(queries[1].sql == "SET LOCAL statement_timeout = '200ms'");
  CHECK(queries[2].sql == "SELECT 1 FROM pg_sleep(5)");
  CHECK(queries[3].sql == "COMMIT");
  // A trailing semicolon would make two statements.
  CHECK(make_custom_check_probe(idle_check())->queries(f.ctx)[2].sql.ends_with("transaction'"));
  auto probe = make_custom_check_probe(idle_check());
  CHECK(probe->default_interval() == idle_check().interval);
}

TEST_CASE("checks: value and comparison from a recorded reply") {
  Fixture f;
  auto check = idle_check();
  auto probe = make_custom_check_probe(check);
  auto results = f.replies(check);
  probe->collect(f.ctx, results, f.sink);
  const double recorded_value = *results[2].number(0, "count");
  const Labels labels{{"check", "idle_in_tx"}};
  CHECK(f.value("pgvigil_check_value", labels) == recorded_value);
  CHECK(f.value("pgvigil_check_ok", labels) == (recorded_value < 1 ? 1 : 0));
  CHECK(f.value("pgvigil_check_error", labels) == 0);
  CHECK(f.sink.evidence().at("check.idle_in_tx").starts_with("value "));

  check.comparison = config::Comparison::greater_equal;
  SampleSink flipped;
  make_custom_check_probe(check)->collect(f.ctx, results, flipped);
  CHECK(flipped.find("pgvigil_check_ok", labels)->gauge.value == (recorded_value >= 1 ? 1 : 0));
}

TEST_CASE("checks: a timed-out check is an error, not a value") {
  Fixture f;
  auto check = slow_check();
  auto results = f.replies(check);
  REQUIRE(results[2].sqlstate == "57014");
  make_custom_check_probe(check)->collect(f.ctx, results, f.sink);
  const Labels labels{{"check", "slow"}};
  CHECK(f.sink.find("pgvigil_check_value", labels) == nullptr);
  CHECK(f.value("pgvigil_check_ok", labels) == 0);
  CHECK(f.value("pgvigil_check_error", labels) == 1);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "check"}, {"check", "slow"}}) == 0);
  CHECK(f.sink.evidence().at("check.slow") ==
        "error 57014: canceling statement due to statement timeout");
}

TEST_CASE("checks: permission denied (recorded as a pg_monitor role)") {
  Fixture f;
  auto check = secret_check();
  make_custom_check_probe(check)->collect(f.ctx, f.replies(check), f.sink);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "check"}, {"check", "secret"}}) == 1);
  CHECK(f.value("pgvigil_check_error", {{"check", "secret"}}) == 1);
  CHECK(f.sink.find("pgvigil_check_value", {{"check", "secret"}}) == nullptr);
}

TEST_CASE("checks: the first failure is reported, later aborted-transaction errors are not") {
  Fixture f;
  std::vector<QueryResult> results{
      QueryResult::from_rows({}, {}),
      QueryResult::failure("22023", "invalid value for parameter \"statement_timeout\""),
      QueryResult::failure("25P02", "current transaction is aborted"),
      QueryResult::failure("25P02", "current transaction is aborted")};
  make_custom_check_probe(idle_check())->collect(f.ctx, results, f.sink);
  CHECK(f.sink.evidence().at("check.idle_in_tx").starts_with("error 22023"));
  // A failing COMMIT after a good value does not undo the value.
  SampleSink sink;
  std::vector<QueryResult> commit_failed{
      QueryResult::from_rows({}, {}), QueryResult::from_rows({}, {}),
      QueryResult::from_rows({"n"}, {{"0"}}), QueryResult::failure("08006", "connection lost")};
  make_custom_check_probe(idle_check())->collect(f.ctx, commit_failed, sink);
  CHECK(sink.find("pgvigil_check_ok", {{"check", "idle_in_tx"}})->gauge.value == 1);
  CHECK(sink.find("pgvigil_check_error", {{"check", "idle_in_tx"}})->gauge.value == 0);
}

TEST_CASE("checks: NULL, no row or text give no value and not OK") {
  Fixture f;
  const Labels labels{{"check", "idle_in_tx"}};
  auto done = QueryResult::from_rows({}, {});
  for (auto reply :
       {QueryResult::from_rows({"n"}, {{std::nullopt}}), QueryResult::from_rows({"n"}, {}),
        QueryResult::from_rows({}, {}), QueryResult::from_rows({"n"}, {{"many"}})}) {
    SampleSink sink;
    std::vector<QueryResult> results{done, done, reply, done};
    make_custom_check_probe(idle_check())->collect(f.ctx, results, sink);
    CHECK(sink.find("pgvigil_check_value", labels) == nullptr);
    CHECK(sink.find("pgvigil_check_ok", labels)->gauge.value == 0);
    CHECK(sink.find("pgvigil_check_error", labels)->gauge.value == 0);
    CHECK(sink.evidence().at("check.idle_in_tx").starts_with("no numeric value"));
  }
  SampleSink sink;
  CHECK_NOTHROW(make_custom_check_probe(idle_check())->collect(f.ctx, {}, sink));
  CHECK(sink.find("pgvigil_check_error", labels)->gauge.value == 1);
}

TEST_CASE("checks: comparisons") {
  using config::Comparison;
  CHECK(check_passes(Comparison::greater, 2, 1));
  CHECK_FALSE(check_passes(Comparison::greater, 1, 1));
  CHECK(check_passes(Comparison::greater_equal, 1, 1));
  CHECK(check_passes(Comparison::less, 0, 1));
  CHECK_FALSE(check_passes(Comparison::less_equal, 2, 1));
  CHECK(check_passes(Comparison::equal, 1, 1));
  CHECK(check_passes(Comparison::not_equal, 0, 1));
  CHECK_FALSE(check_passes(Comparison::greater, std::numeric_limits<double>::quiet_NaN(), 0));
}
