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
  f.server.settings = {{"max_connections", "100"}, {"superuser_reserved_connections", "3"}};
  f.probe->collect(f.ctx, f.results, f.sink);
  const double clients = static_cast<double>(f.results[0].rows.size());
  REQUIRE(f.find("pg_settings_max_connections") != nullptr);
  CHECK(f.find("pg_settings_max_connections")->gauge.value == 100);
  CHECK(f.find("pg_settings_superuser_reserved_connections")->gauge.value == 3);
  CHECK(f.find("pg_stat_activity_client_connections")->gauge.value == clients);
  CHECK(clients >= 5);  // the recording session and the four it left open
  // reserved_connections does not exist before 16: no sample.
  CHECK(f.find("pg_settings_reserved_connections") == nullptr);
  REQUIRE(f.find("pg_connections_utilization_ratio") != nullptr);
  CHECK(f.find("pg_connections_utilization_ratio")->gauge.value ==
        doctest::Approx(clients / (100 - 3)));
}

namespace {

QueryResult sessions(int count) {
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (int i = 0; i < count; ++i) rows.push_back({std::to_string(1000 + i), "db", "idle"});
  return QueryResult::from_rows({"pid", "datname", "state"}, rows);
}

}  // namespace

TEST_CASE("connections: reserved_connections (16 on) counts as reserved") {
  Fixture f;
  f.server.settings = {{"max_connections", "100"},
                       {"superuser_reserved_connections", "3"},
                       {"reserved_connections", "7"}};
  std::vector<QueryResult> results{sessions(45)};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.find("pg_settings_reserved_connections")->gauge.value == 7);
  CHECK(f.find("pg_stat_activity_client_connections")->gauge.value == 45);
  CHECK(f.find("pg_connections_utilization_ratio")->gauge.value == doctest::Approx(45.0 / 90.0));
}

TEST_CASE("connections: no ratio without a usable denominator, failures skip the count") {
  Fixture f;
  f.server.settings = {{"max_connections", "3"}, {"superuser_reserved_connections", "3"}};
  std::vector<QueryResult> results{sessions(1)};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.find("pg_connections_utilization_ratio") == nullptr);
  CHECK(f.find("pg_settings_max_connections")->gauge.value == 3);

  SampleSink denied;
  std::vector<QueryResult> failed{QueryResult::failure("42501", "permission denied")};
  f.probe->collect(f.ctx, failed, denied);
  CHECK(denied.find("pgvigil_probe_permission_denied", {{"probe", "connections"}})->gauge.value ==
        1);
  CHECK(denied.series_count("pg_stat_activity_client_connections") == 0);
  CHECK(denied.series_count("pg_connections_utilization_ratio") == 0);

  // Settings that are missing or not numbers give no sample.
  SampleSink odd;
  f.server.settings = {{"max_connections", "lots"}};
  f.probe->collect(f.ctx, results, odd);
  CHECK(odd.series_count("pg_settings_max_connections") == 0);
  CHECK(odd.series_count("pg_connections_utilization_ratio") == 0);
  CHECK(odd.find("pg_stat_activity_client_connections")->gauge.value == 1);

  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
}
