#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/statements.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_statements_probe();
  std::vector<QueryResult> results = recorded::load_all("statements", probe->queries(ctx));
  SampleSink sink;
};

}  // namespace

TEST_CASE("statements: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("statements", f.probe->queries(f.ctx));
}

TEST_CASE("statements: calls, time, mean and rows per queryid, bounded by top N") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& rows = f.results[0];
  REQUIRE(rows.rows.size() > 1);
  CHECK(rows.rows.size() <= 2 * StatementsProbe::kDefaultTopN);
  CHECK(f.sink.series_count("pg_stat_statements_calls_total") == rows.rows.size());
  const Labels first{{"queryid", std::string(*rows.text(0, "queryid"))},
                     {"datname", std::string(*rows.text(0, "datname"))},
                     {"user", std::string(*rows.text(0, "user"))}};
  const auto* seconds = f.sink.find("pg_stat_statements_seconds_total", first);
  const auto* calls = f.sink.find("pg_stat_statements_calls_total", first);
  REQUIRE(seconds != nullptr);
  REQUIRE(calls != nullptr);
  CHECK(seconds->counter.value == *rows.number(0, "seconds_total"));
  CHECK(f.sink.find("pg_stat_statements_mean_seconds", first)->gauge.value ==
        doctest::Approx(seconds->counter.value / calls->counter.value));
  CHECK(f.sink.find("pg_stat_statements_rows_total", first) != nullptr);
  // The recorded pg_sleep(0.3) twice is the most expensive statement.
  CHECK(rows.text(0, "query") == "SELECT pg_sleep($1)");
  CHECK(seconds->counter.value > 0.3);
  // Texts only in evidence, never in labels.
  const auto& evidence = f.sink.evidence().at("statements.top");
  CHECK(evidence.starts_with(std::string(*rows.text(0, "queryid")) + ": SELECT pg_sleep($1)\n"));
  for (const auto& family : f.sink.families())
    for (const auto& metric : family.metric)
      for (const auto& label : metric.label) CHECK(label.name != "query");
}

TEST_CASE("statements: version gates and the missing extension") {
  config::TargetConfig target;
  for (int version : {120000, 130000, 160000, 170000}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    auto queries = make_statements_probe()->queries(ctx);
    REQUIRE(queries.size() == 1);
    const bool uses_exec_time = queries[0].sql.find("sum(total_exec_time)") != std::string::npos;
    const bool uses_total_time = queries[0].sql.find("sum(total_time)") != std::string::npos;
    CHECK_MESSAGE(uses_exec_time == (version >= 130000), version);
    CHECK_MESSAGE(uses_total_time == (version < 130000), version);
    CHECK(queries[0].sql.find("LIMIT 10)") != std::string::npos);
  }
  auto server = recorded::server();
  server.has_pg_stat_statements = false;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  auto probe = make_statements_probe();
  CHECK(probe->queries(ctx).empty());
  SampleSink sink;
  probe->collect(ctx, {}, sink);
  CHECK(sink.empty());
  target.probes["statements"].top_n = 3;
  CHECK(probe->queries(ProbeContext{recorded::server(), target, {}, "postgres"})[0].sql.find(
            "LIMIT 3)") != std::string::npos);
}

TEST_CASE("statements: NULLs, failures and permission denied") {
  Fixture f;
  std::vector<QueryResult> odd{QueryResult::from_rows(
      {"user", "datname", "queryid", "calls", "seconds_total", "mean_seconds", "rows", "query"},
      {{"u", "d", "42", "0", "0", std::nullopt, "0", std::nullopt},
       {"u", "d", std::nullopt, "1", "1", "1", "1", "SELECT 1"}})};
  f.probe->collect(f.ctx, odd, f.sink);
  CHECK(f.sink.series_count("pg_stat_statements_calls_total") == 1);
  CHECK(f.sink.series_count("pg_stat_statements_mean_seconds") == 0);
  CHECK(f.sink.evidence().at("statements.top") == "42: <query text not visible>\n");

  SampleSink denied;
  std::vector<QueryResult> failed{
      QueryResult::failure("42501", "permission denied for view pg_stat_statements")};
  f.probe->collect(f.ctx, failed, denied);
  CHECK(denied.find("pgvigil_probe_permission_denied", {{"probe", "statements"}})->gauge.value ==
        1);
  CHECK(denied.series_count("pg_stat_statements_calls_total") == 0);
}

TEST_CASE("statements: the mean of recent calls comes from the previous round's totals") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // First round: nothing to compare with.
  CHECK(f.sink.series_count("pg_stat_statements_recent_mean_seconds") == 0);
  CHECK(f.sink.series_count("pg_stat_statements_recent_calls") == 0);

  auto& rows = f.results[0];
  const Labels first{{"queryid", std::string(*rows.text(0, "queryid"))},
                     {"datname", std::string(*rows.text(0, "datname"))},
                     {"user", std::string(*rows.text(0, "user"))}};
  const double calls = *rows.number(0, "calls");
  const double seconds = *rows.number(0, "seconds_total");
  auto set = [&](std::string_view column, double value) {
    rows.rows[0][static_cast<std::size_t>(rows.column(column))] = std::to_string(value);
  };
  // 4 more calls that took 2 s in all: recent mean 0.5 s, whatever the lifetime mean.
  set("calls", calls + 4);
  set("seconds_total", seconds + 2.0);
  SampleSink second;
  f.probe->collect(f.ctx, f.results, second);
  CHECK(second.find("pg_stat_statements_recent_calls", first)->gauge.value == 4);
  CHECK(second.find("pg_stat_statements_recent_mean_seconds", first)->gauge.value ==
        doctest::Approx(0.5));
  // Statements without new calls: 0 recent calls and no mean.
  const Labels other{{"queryid", std::string(*rows.text(1, "queryid"))},
                     {"datname", std::string(*rows.text(1, "datname"))},
                     {"user", std::string(*rows.text(1, "user"))}};
  CHECK(second.find("pg_stat_statements_recent_calls", other)->gauge.value == 0);
  CHECK(second.find("pg_stat_statements_recent_mean_seconds", other) == nullptr);

  // pg_stat_statements_reset(): counters go down, the round starts over.
  set("calls", 1);
  set("seconds_total", 0.001);
  SampleSink reset;
  f.probe->collect(f.ctx, f.results, reset);
  CHECK(reset.find("pg_stat_statements_recent_calls", first) == nullptr);
  CHECK(reset.find("pg_stat_statements_recent_mean_seconds", first) == nullptr);
}
