#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/collectors.hpp"

using namespace pgvigil;

namespace {

config::CollectorColumn column(std::string name, config::ColumnUsage usage) {
  config::CollectorColumn c;
  c.name = std::move(name);
  c.usage = usage;
  return c;
}

config::CollectorBranch branch(int min, int max, std::string sql) {
  config::CollectorBranch b;
  b.min_version = min;
  b.max_version = max;
  b.sql = std::move(sql);
  return b;
}

config::CollectorConfig queues() {
  config::CollectorConfig c;
  c.name = "app_queue";
  c.defined_at = "test.toml:3";
  c.branches = {branch(0, 0, "SELECT queue, status, depth, processed FROM queues;\n")};
  c.timeout = config::Duration{1500};
  auto depth = column("depth", config::ColumnUsage::gauge);
  depth.has_expect = true;
  depth.comparison = config::Comparison::less;
  depth.threshold = 10;
  depth.expect = "< 10";
  c.columns = {column("queue", config::ColumnUsage::label),
               column("status", config::ColumnUsage::label), depth,
               column("processed", config::ColumnUsage::counter)};
  return c;
}

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  SampleSink sink;

  static std::vector<QueryResult> replies(QueryResult answer) {
    QueryResult done = QueryResult::from_rows({}, {});
    return {done, done, std::move(answer), done};
  }
};

QueryResult queue_rows() {
  return QueryResult::from_rows({"queue", "status", "depth", "processed"},
                                {{"mail", "ready", "3", "100"},
                                 {"mail", "failed", "12", "7"},
                                 {"sms", "ready", std::nullopt, "5"},
                                 {std::nullopt, "ready", "1", std::nullopt}});
}

}  // namespace

TEST_CASE("collectors: the branch for the server's version, read-only under its own timeout") {
  Fixture f;
  CollectorProbe probe(queues());
  const auto queries = probe.queries(f.ctx);
  REQUIRE(queries.size() == 4);
  CHECK(queries[0].sql == "BEGIN READ ONLY");
  CHECK(queries[1].sql == "SET LOCAL statement_timeout = '1500ms'");
  CHECK(queries[2].sql == "SELECT queue, status, depth, processed FROM queues");
  CHECK(queries[3].sql == "COMMIT");

  auto c = queues();
  c.branches = {branch(150000, 159999, "SELECT 15"), branch(160000, 0, "SELECT 16"),
                branch(0, 0, "SELECT old")};
  CHECK(select_branch(c, 150018)->sql == "SELECT 15");
  CHECK(select_branch(c, 170004)->sql == "SELECT 16");
  CHECK(select_branch(c, 130023)->sql == "SELECT old");
  c.branches.pop_back();
  CHECK(select_branch(c, 130023) == nullptr);
  f.server.version_num = 130023;
  CHECK(CollectorProbe(c).queries(f.ctx).empty());  // no branch: no query
  CollectorProbe(c).collect(f.ctx, {}, f.sink);
  CHECK(f.sink.empty());  // and no sample, no error
}

TEST_CASE("collectors: rows become series, NULL gives no sample, expectations per series") {
  Fixture f;
  CollectorProbe probe(queues());
  probe.collect(f.ctx, Fixture::replies(queue_rows()), f.sink);
  CHECK(f.sink.find("app_queue_depth", {{"queue", "mail"}, {"status", "ready"}})->gauge.value == 3);
  CHECK(f.sink.find("app_queue_depth", {{"queue", "mail"}, {"status", "failed"}})->gauge.value ==
        12);
  CHECK(f.sink.find("app_queue_depth", {{"queue", "sms"}, {"status", "ready"}}) == nullptr);
  CHECK(
      f.sink.find("app_queue_processed", {{"queue", "sms"}, {"status", "ready"}})->counter.value ==
      5);
  // A NULL label is an empty label value (postgres_exporter does the same).
  CHECK(f.sink.find("app_queue_depth", {{"queue", ""}, {"status", "ready"}})->gauge.value == 1);
  CHECK(f.sink.series_count("app_queue_depth") == 3);
  CHECK(f.sink.series_count("app_queue_processed") == 3);
  CHECK(f.sink.find("pgvigil_collector_error", {{"collector", "app_queue"}})->gauge.value == 0);
  CHECK(f.sink.find("pgvigil_collector_rows", {{"collector", "app_queue"}})->gauge.value == 4);
  // The check: one series per row with a value.
  CHECK(f.sink
            .find("pgvigil_check_ok",
                  {{"check", "app_queue_depth"}, {"queue", "mail"}, {"status", "failed"}})
            ->gauge.value == 0);
  CHECK(f.sink
            .find("pgvigil_check_ok",
                  {{"check", "app_queue_depth"}, {"queue", "mail"}, {"status", "ready"}})
            ->gauge.value == 1);
  CHECK(f.sink.series_count("pgvigil_check_ok") == 3);
  CHECK(f.sink.evidence().at("check.app_queue_depth") ==
        "{queue=\"mail\",status=\"failed\"} value 12 (expected < 10)");
}

TEST_CASE("collectors: row and series caps drop and count, duplicates too") {
  Fixture f;
  auto c = queues();
  c.max_rows = 3;
  c.max_series = 4;
  CollectorProbe probe(c);
  auto rows = queue_rows();
  rows.rows.insert(rows.rows.begin() + 1, rows.rows[0]);  // a duplicate label set
  for (int round = 1; round <= 2; ++round) {
    SampleSink sink;
    probe.collect(f.ctx, Fixture::replies(rows), sink);
    // Rows 1, 2 (duplicate, dropped), 3: four values, the cap.
    CHECK(sink.series_count("app_queue_depth") + sink.series_count("app_queue_processed") == 4);
    const auto dropped = [&](const char* reason) {
      return sink
          .find("pgvigil_collector_dropped_total", {{"collector", "app_queue"}, {"reason", reason}})
          ->counter.value;
    };
    CHECK(dropped("rows") == 2 * round);  // 5 rows, 3 read
    CHECK(dropped("duplicate") == 1 * round);
    CHECK(dropped("series") == 0);
    CHECK(sink.find("pgvigil_collector_rows", {{"collector", "app_queue"}})->gauge.value == 5);
  }
  c.max_series = 3;
  c.max_rows = 100;
  CollectorProbe tight(c);
  tight.collect(f.ctx, Fixture::replies(queue_rows()), f.sink);
  CHECK(f.sink
            .find("pgvigil_collector_dropped_total",
                  {{"collector", "app_queue"}, {"reason", "series"}})
            ->counter.value == 3);  // 6 values, 3 kept
}

TEST_CASE("collectors: errors are the collector's own, with the reason") {
  const auto run = [](QueryResult answer, std::vector<QueryResult>* all = nullptr) {
    Fixture f;
    CollectorProbe probe(queues());
    probe.collect(f.ctx, all ? *all : Fixture::replies(std::move(answer)), f.sink);
    CHECK(f.sink.find("pgvigil_collector_error", {{"collector", "app_queue"}})->gauge.value == 1);
    CHECK(f.sink.series_count("app_queue_depth") == 0);
    CHECK(f.sink.find("pgvigil_check_ok", {{"check", "app_queue_depth"}})->gauge.value == 0);
    return f.sink.evidence().at("collector.app_queue");
  };
  CHECK(run(QueryResult::from_rows({"queue", "status", "depth", "processed"},
                                   {{"mail", "ready", "lots", "1"}})) ==
        "column depth: lots is not a number");
  CHECK(run(QueryResult::from_rows({"queue", "depth", "processed"}, {{"mail", "1", "1"}})) ==
        "column status is not in the query's result");
  CHECK(run(QueryResult::failure("42P01", "relation \"queues\" does not exist")) ==
        "error 42P01: relation \"queues\" does not exist");
  CHECK(run(QueryResult::failure("57014", "canceling statement due to statement timeout")) ==
        "timed out after 1500 ms (statement_timeout)");
}

TEST_CASE("collectors: over several databases each series carries datname") {
  Fixture f;
  auto c = queues();
  c.databases = {"*"};
  c.max_series = 5;
  CollectorProbe probe(c);
  REQUIRE(probe.per_database());
  ProbeContext app{f.server, f.target, f.ctx.now, "app"};
  ProbeContext other{f.server, f.target, f.ctx.now, "other"};
  probe.collect(app, Fixture::replies(queue_rows()), f.sink);
  probe.collect(other, Fixture::replies(queue_rows()), f.sink);
  CHECK(
      f.sink.find("app_queue_depth", {{"datname", "app"}, {"queue", "mail"}, {"status", "ready"}})
          ->gauge.value == 3);
  // The cap holds across the round's databases: 6 values in app, then none.
  CHECK(f.sink.series_count("app_queue_depth") + f.sink.series_count("app_queue_processed") == 5);
  CHECK(f.sink.find("pgvigil_collector_error", {{"collector", "app_queue"}, {"datname", "other"}})
            ->gauge.value == 0);
  CHECK(f.sink
            .find("pgvigil_collector_dropped_total",
                  {{"collector", "app_queue"}, {"datname", "other"}, {"reason", "series"}})
            ->counter.value == 6);
}
