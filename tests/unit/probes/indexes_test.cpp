#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/indexes.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  explicit Fixture(int major_version = 15) : major(major_version) {}
  int major;
  ServerInfo server = recorded::server_for_major(major);
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "appdb"};
  std::unique_ptr<SqlProbe> probe = make_indexes_probe();
  std::vector<QueryResult> results = recorded::load_all("indexes", probe->queries(ctx), major);
  SampleSink sink;

  const prometheus::ClientMetric* index(std::string_view name, std::string_view table,
                                        std::string_view index_name) {
    return sink.find(name, {{"datname", "appdb"},
                            {"schemaname", "public"},
                            {"relname", std::string(table)},
                            {"indexrelname", std::string(index_name)}});
  }
  const prometheus::ClientMetric* table(std::string_view name, std::string_view relname) {
    return sink.find(
        name, {{"datname", "appdb"}, {"schemaname", "public"}, {"relname", std::string(relname)}});
  }
};

}  // namespace

TEST_CASE("indexes: recorded SQL is the probe's SQL for PostgreSQL 15 and 16") {
  for (int major : {15, 16}) {
    CAPTURE(major);
    Fixture f(major);
    CHECK(f.probe->per_database());
    recorded::record_or_compare("indexes", f.probe->queries(f.ctx), major);
  }
}

TEST_CASE("indexes: 16 reports when an index was last scanned, never-scanned ones have none") {
  Fixture f(16);
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto* scanned = f.index("pg_stat_user_indexes_last_idx_scan_time", "orders", "orders_pkey");
  REQUIRE(scanned != nullptr);
  CHECK(scanned->gauge.value > 1.6e9);  // unix seconds
  CHECK(f.index("pg_stat_user_indexes_last_idx_scan_time", "orders", "orders_note") == nullptr);
  CHECK(f.index("pg_index_unused_size_bytes", "orders", "orders_note") != nullptr);
  CHECK(f.table("pg_table_bloat_ratio", "churn")->gauge.value ==
        doctest::Approx(0.8).epsilon(0.05));
}

TEST_CASE("indexes: size and use of the largest indexes") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // Recorded after one index scan of orders_pkey and none of orders_note.
  const auto* scanned = f.index("pg_stat_user_indexes_idx_scan_total", "orders", "orders_pkey");
  REQUIRE(scanned != nullptr);
  CHECK(scanned->counter.value >= 1);
  CHECK(f.index("pg_stat_user_indexes_idx_scan_total", "orders", "orders_note")->counter.value ==
        0);
  const auto* size = f.index("pg_index_size", "churn", "churn_pkey");
  REQUIRE(size != nullptr);
  CHECK(size->gauge.value > 1e6);  // 100,000 keys
  // 15 has no last_idx_scan: NULL, so no sample.
  CHECK(f.sink.series_count("pg_stat_user_indexes_last_idx_scan_time") == 0);
}

TEST_CASE("indexes: never-scanned indexes that enforce nothing are unused") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.index("pg_index_unused_size_bytes", "orders", "orders_note") != nullptr);
  // Primary keys enforce a constraint: never "unused", scanned or not.
  CHECK(f.index("pg_index_unused_size_bytes", "churn", "churn_pkey") == nullptr);
  CHECK(f.index("pg_index_unused_size_bytes", "orders", "orders_pkey") == nullptr);
  const auto& evidence = f.sink.evidence().at("indexes.unused");
  CHECK(evidence.starts_with("database appdb:\n"));
  CHECK(evidence.find("public.orders_note on orders") != std::string::npos);
}

TEST_CASE("indexes: bloat estimated where pg_stats describes every column") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // churn: 100,000 rows, 80 % deleted and vacuumed; the role may read it.
  const auto* ratio = f.table("pg_table_bloat_ratio", "churn");
  REQUIRE(ratio != nullptr);
  CHECK(ratio->gauge.value == doctest::Approx(0.8).epsilon(0.05));
  CHECK(f.table("pg_table_bloat_bytes", "churn")->gauge.value > 4e6);
  const auto* index_ratio = f.index("pg_index_bloat_ratio", "churn", "churn_pkey");
  REQUIRE(index_ratio != nullptr);
  CHECK(index_ratio->gauge.value == doctest::Approx(0.8).epsilon(0.05));
  // orders: the monitoring role may not read it, so pg_stats hides its
  // columns: no estimate, counted instead.
  CHECK(f.table("pg_table_bloat_ratio", "orders") == nullptr);
  const Labels tables{{"datname", "appdb"}, {"kind", "table"}};
  const Labels indexes{{"datname", "appdb"}, {"kind", "index"}};
  CHECK(f.sink.find("pgvigil_bloat_unestimated_relations", tables)->gauge.value >= 1);
  CHECK(f.sink.find("pgvigil_bloat_unestimated_relations", indexes)->gauge.value >= 1);
  CHECK(
      f.sink.find("pgvigil_probe_permission_denied", {{"probe", "indexes"}, {"datname", "appdb"}})
          ->gauge.value == 0);
  const auto& evidence = f.sink.evidence().at("indexes.bloat");
  CHECK(evidence.starts_with("database appdb:\ntable public.churn: 5 MiB estimated bloat, 80 %"));
  CHECK(evidence.find("index public.churn index churn_pkey: 2 MiB estimated bloat, 80 %") !=
        std::string::npos);
}

TEST_CASE("indexes: 16 and later add the last scan time") {
  Fixture f;
  f.server.version_num = 160000;
  const auto queries = f.probe->queries(f.ctx);
  CHECK(queries[0].sql.find("EXTRACT(EPOCH FROM s.last_idx_scan)") != std::string::npos);
  f.server.version_num = 150000;
  CHECK(f.probe->queries(f.ctx)[0].sql.find("last_idx_scan)") == std::string::npos);
}

TEST_CASE("indexes: top_n bounds every statement") {
  Fixture f;
  f.target.probes["indexes"].top_n = 5;
  for (const auto& query : f.probe->queries(f.ctx)) {
    CAPTURE(query.name);
    CHECK(query.sql.ends_with("LIMIT 5"));
  }
  f.target.probes["indexes"].top_n = 1'000'000;
  for (const auto& query : f.probe->queries(f.ctx)) CHECK(query.sql.ends_with("LIMIT 1000"));
}

TEST_CASE("indexes: a refused statement is reported, the others still count") {
  Fixture f;
  const std::size_t bloat_indexes = 3;
  REQUIRE(f.probe->queries(f.ctx)[bloat_indexes].name == "bloat_indexes");
  f.results[bloat_indexes] = QueryResult::failure("42501", "permission denied for table x");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(
      f.sink.find("pgvigil_probe_permission_denied", {{"probe", "indexes"}, {"datname", "appdb"}})
          ->gauge.value == 1);
  CHECK(f.table("pg_table_bloat_ratio", "churn") != nullptr);
  CHECK(f.index("pg_index_bloat_ratio", "churn", "churn_pkey") == nullptr);
}
