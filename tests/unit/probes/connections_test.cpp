#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/connections.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_connections_probe();
  std::vector<QueryResult> results = recorded::load_all("connections", probe->queries(ctx));
  SampleSink sink;

  const prometheus::ClientMetric* find(std::string_view name) { return sink.find(name, {}); }
};

}  // namespace

TEST_CASE("connections: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("connections", f.probe->queries(f.ctx));
}

TEST_CASE("connections: settings, clients and the usable-slot ratio on 15") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& row = f.results[0];
  const double max_connections = *row.number(0, "max_connections");
  const double superuser_reserved = *row.number(0, "superuser_reserved_connections");
  const double clients = *row.number(0, "client_connections");
  REQUIRE(f.find("pg_settings_max_connections") != nullptr);
  CHECK(f.find("pg_settings_max_connections")->gauge.value == max_connections);
  CHECK(f.find("pg_settings_superuser_reserved_connections")->gauge.value == superuser_reserved);
  CHECK(f.find("pg_stat_activity_client_connections")->gauge.value == clients);
  CHECK(clients >= 1);  // at least the recording session itself
  // reserved_connections does not exist before 16: NULL, so no sample.
  CHECK(f.find("pg_settings_reserved_connections") == nullptr);
  REQUIRE(f.find("pg_connections_utilization_ratio") != nullptr);
  CHECK(f.find("pg_connections_utilization_ratio")->gauge.value ==
        doctest::Approx(clients / (max_connections - superuser_reserved)));
}

TEST_CASE("connections: reserved_connections is asked for from 16 on and counts as reserved") {
  config::TargetConfig target;
  for (int version : {120000, 130000, 150000, 160000, 170000}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    auto queries = make_connections_probe()->queries(ctx);
    REQUIRE(queries.size() == 1);
    CHECK_MESSAGE((queries[0].sql.find("current_setting('reserved_connections')") !=
                   std::string::npos) == (version >= 160000),
                  version);
  }
  Fixture f;
  std::vector<QueryResult> results{
      QueryResult::from_rows({"max_connections", "superuser_reserved_connections",
                              "reserved_connections", "client_connections"},
                             {{"100", "3", "7", "45"}})};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.find("pg_settings_reserved_connections")->gauge.value == 7);
  CHECK(f.find("pg_connections_utilization_ratio")->gauge.value == doctest::Approx(45.0 / 90.0));
}

TEST_CASE("connections: no ratio without a usable denominator, failures skip everything") {
  Fixture f;
  std::vector<QueryResult> results{
      QueryResult::from_rows({"max_connections", "superuser_reserved_connections",
                              "reserved_connections", "client_connections"},
                             {{"3", "3", std::nullopt, "1"}})};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.find("pg_connections_utilization_ratio") == nullptr);
  CHECK(f.find("pg_settings_max_connections")->gauge.value == 3);

  SampleSink denied;
  std::vector<QueryResult> failed{QueryResult::failure("42501", "permission denied")};
  f.probe->collect(f.ctx, failed, denied);
  CHECK(denied.find("pgvigil_probe_permission_denied", {{"probe", "connections"}})->gauge.value ==
        1);
  CHECK(denied.series_count("pg_settings_max_connections") == 0);

  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
  std::vector<QueryResult> no_rows{QueryResult::from_rows({"max_connections"}, {})};
  CHECK_NOTHROW(f.probe->collect(f.ctx, no_rows, empty));
}
