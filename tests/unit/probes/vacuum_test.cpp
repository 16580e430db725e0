#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/vacuum.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "appdb"};
  std::unique_ptr<SqlProbe> probe = make_vacuum_probe();
  std::vector<QueryResult> results = recorded::load_all("vacuum", probe->queries(ctx));
  SampleSink sink;

  const prometheus::ClientMetric* find(std::string_view name, std::string_view schema,
                                       std::string_view table) {
    return sink.find(name, {{"datname", "appdb"},
                            {"schemaname", std::string(schema)},
                            {"relname", std::string(table)}});
  }
};

}  // namespace

TEST_CASE("vacuum: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  CHECK(f.probe->per_database());
  recorded::record_or_compare("vacuum", f.probe->queries(f.ctx));
}

TEST_CASE("vacuum: dead and live rows, vacuum times and counts per table") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // Recorded after deleting a third of public.orders (autovacuum off there)
  // and updating audit.events after a manual VACUUM ANALYZE.
  const auto* dead = f.find("pg_stat_user_tables_n_dead_tup", "public", "orders");
  const auto* live = f.find("pg_stat_user_tables_n_live_tup", "public", "orders");
  REQUIRE(dead != nullptr);
  REQUIRE(live != nullptr);
  CHECK(dead->gauge.value == 3333);
  CHECK(f.find("pg_stat_user_tables_dead_tuple_ratio", "public", "orders")->gauge.value ==
        doctest::Approx(dead->gauge.value / (dead->gauge.value + live->gauge.value)));
  // Never vacuumed: NULL, so no sample (not 0).
  CHECK(f.find("pg_stat_user_tables_last_vacuum", "public", "orders") == nullptr);
  CHECK(f.find("pg_stat_user_tables_vacuum_count", "public", "orders")->counter.value == 0);
  const auto* vacuumed = f.find("pg_stat_user_tables_last_vacuum", "audit", "events");
  REQUIRE(vacuumed != nullptr);
  CHECK(vacuumed->gauge.value > 1.6e9);  // unix seconds
  CHECK(f.find("pg_stat_user_tables_vacuum_count", "audit", "events")->counter.value == 1);
  // An empty table has no ratio.
  CHECK(f.find("pg_stat_user_tables_n_dead_tup", "public", "empty_table") != nullptr);
  CHECK(f.find("pg_stat_user_tables_dead_tuple_ratio", "public", "empty_table") == nullptr);
  CHECK(f.find("pg_table_autovacuum_enabled", "public", "orders")->gauge.value == 0);
  CHECK(f.sink.series_count("pg_table_autovacuum_enabled") == 1);
  const auto& evidence = f.sink.evidence().at("vacuum.top_dead");
  CHECK(evidence.starts_with("database appdb:\npublic.orders dead=3333"));
}

TEST_CASE("vacuum: top_n comes from the target's [probes.vacuum] and is bounded") {
  Fixture f;
  CHECK(f.probe->queries(f.ctx)[0].sql.find("LIMIT 20") != std::string::npos);
  f.target.probes["vacuum"].top_n = 5;
  CHECK(f.probe->queries(f.ctx)[0].sql.find("LIMIT 5") != std::string::npos);
  f.target.probes["vacuum"].top_n = 0;
  CHECK(f.probe->queries(f.ctx)[0].sql.ends_with("LIMIT 1"));
  f.target.probes["vacuum"].top_n = 1'000'000;
  CHECK(f.probe->queries(f.ctx)[0].sql.ends_with("LIMIT 1000"));
}

TEST_CASE("vacuum: one round over two databases keeps both in the evidence") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  ProbeContext other{f.server, f.target, f.ctx.now, "postgres"};
  std::vector<QueryResult> empty{QueryResult::from_rows(f.results[0].columns, {}),
                                 QueryResult::from_rows(f.results[1].columns, {})};
  f.probe->collect(other, empty, f.sink);
  const auto& evidence = f.sink.evidence().at("vacuum.top_dead");
  CHECK(evidence.find("database appdb:") == 0);
  CHECK(evidence.find("database postgres:\nno user tables") != std::string::npos);
  CHECK(f.sink.find("pgvigil_probe_permission_denied",
                    {{"probe", "vacuum"}, {"datname", "postgres"}}) != nullptr);
}

TEST_CASE("vacuum: failures skip their part, permission denied is flagged per database") {
  Fixture f;
  f.results[0] = QueryResult::failure("42501", "permission denied for view pg_stat_user_tables");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.series_count("pg_stat_user_tables_n_dead_tup") == 0);
  CHECK(f.sink.series_count("pg_table_autovacuum_enabled") == 1);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "vacuum"}, {"datname", "appdb"}})
            ->gauge.value == 1);
  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
}
