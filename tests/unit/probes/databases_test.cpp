#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/databases.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  // A standby of that major: the probe then asks for pg_stat_database_conflicts too.
  explicit Fixture(int major_version = 15, bool standby = false)
      : major(major_version), server(standby_of(recorded::server_for_major(major), standby)) {}
  static ServerInfo standby_of(ServerInfo info, bool standby) {
    info.in_recovery = standby;
    return info;
  }
  int major;
  ServerInfo server;
  config::TargetConfig target = [] {
    config::TargetConfig t;
    t.expected_databases = {"appdb", "missingdb"};
    return t;
  }();
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_databases_probe();
  std::vector<QueryResult> results = recorded::load_all("databases", probe->queries(ctx), major);
  SampleSink sink;

  const prometheus::ClientMetric* find(std::string_view name, const Labels& labels) {
    return sink.find(name, labels);
  }
};

}  // namespace

TEST_CASE("databases: recorded SQL is the probe's SQL for PostgreSQL 13, 15 and 16") {
  // 14 added session_time and active_time, 16 confl_active_logicalslot; a
  // standby also sends the conflicts statement (recorded on a primary, where
  // the view exists with zeros).
  for (int major : {13, 15, 16}) {
    CAPTURE(major);
    auto server = recorded::server_for_major(major);
    server.in_recovery = true;
    const config::TargetConfig target;
    const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    recorded::record_or_compare("databases", make_databases_probe()->queries(ctx), major);
  }
}

TEST_CASE("databases: postgres_exporter's other pg_stat_database columns, session times on 14+") {
  for (int major : {13, 15, 16}) {
    CAPTURE(major);
    Fixture f(major);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& stats = f.results.at(0);
    REQUIRE(stats.text(0, "datname") == "appdb");
    const Labels appdb{{"datid", std::string(*stats.text(0, "datid"))}, {"datname", "appdb"}};
    for (const char* column :
         {"tup_returned", "tup_fetched", "blk_read_time", "blk_write_time", "stats_reset"}) {
      CAPTURE(column);
      // stats_reset is NULL until the first reset: no sample then.
      const auto value = stats.number(0, column);
      const auto* sample = f.find(std::string("pg_stat_database_") + column, appdb);
      REQUIRE((sample != nullptr) == value.has_value());
      if (sample) CHECK(sample->counter.value == *value);
    }
    CHECK(f.find("pg_stat_database_tup_fetched", appdb) != nullptr);
    // The recording read 10000 rows of orders in appdb.
    CHECK(f.find("pg_stat_database_tup_returned", appdb)->counter.value >= 10000);
    const bool session_times = major >= 14;
    for (const auto& [column, metric] : std::vector<std::pair<std::string, std::string>>{
             {"active_time", "pg_stat_database_active_time_seconds_total"},
             {"session_time", "pg_stat_database_session_time_seconds_total"}}) {
      CAPTURE(metric);
      const auto* sample = f.find(metric, appdb);
      REQUIRE((sample != nullptr) == session_times);
      if (sample) CHECK(sample->counter.value == *stats.number(0, column) / 1000.0);
    }
    // No conflicts statement on a primary.
    CHECK(f.probe->queries(f.ctx).size() == 3);
    CHECK(f.sink.series_count("pg_stat_database_conflicts_confl_lock") == 0);
  }
}

TEST_CASE("databases: recovery conflicts per database on a standby, the logical slot one on 16+") {
  for (int major : {13, 15, 16}) {
    CAPTURE(major);
    Fixture f(major, true);
    REQUIRE(f.results.size() == 4);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& conflicts = f.results.at(3);
    REQUIRE(conflicts.rows.size() >= 3);  // appdb, limited, postgres
    for (std::size_t row = 0; row < conflicts.rows.size(); ++row) {
      const Labels labels{{"datname", std::string(*conflicts.text(row, "datname"))}};
      CAPTURE(labels[0].second);
      for (const char* column : {"confl_tablespace", "confl_lock", "confl_snapshot",
                                 "confl_bufferpin", "confl_deadlock"}) {
        CAPTURE(column);
        const auto* sample = f.find(std::string("pg_stat_database_conflicts_") + column, labels);
        REQUIRE(sample != nullptr);
        CHECK(sample->counter.value == *conflicts.number(row, column));
      }
      CHECK((f.find("pg_stat_database_conflicts_confl_active_logicalslot", labels) != nullptr) ==
            (major >= 16));
    }
    CHECK(f.sink.series_count("pg_stat_database_conflicts_confl_lock") == conflicts.rows.size());
  }
}

TEST_CASE("databases: pg_stat_database counters per database, templates left out") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& stats = f.results[0];
  const Labels appdb{{"datid", std::string(*stats.text(0, "datid"))}, {"datname", "appdb"}};
  REQUIRE(stats.text(0, "datname") == "appdb");
  const auto* commits = f.find("pg_stat_database_xact_commit", appdb);
  REQUIRE(commits != nullptr);
  CHECK(commits->counter.value == *stats.number(0, "xact_commit"));
  CHECK(f.find("pg_stat_database_numbackends", appdb)->gauge.value ==
        *stats.number(0, "numbackends"));
  CHECK(f.find("pg_stat_database_tup_deleted", appdb)->counter.value >= 3333);
  // Checksums are off on the recording server: NULL, so no sample at all.
  CHECK(f.sink.series_count("pg_stat_database_checksum_failures") == 0);
  CHECK(f.sink.series_count("pg_stat_database_deadlocks") == stats.rows.size());
  for (const auto& family : f.sink.families())
    if (family.name.starts_with("pg_stat_database_"))
      for (const auto& metric : family.metric)
        for (const auto& label : metric.label) CHECK(label.value.rfind("template", 0) != 0);
  const auto& families = f.sink.families();
  for (const auto& family : families)
    if (family.name == "pg_stat_database_xact_commit")
      CHECK(family.type == prometheus::MetricType::Counter);
    else if (family.name == "pg_stat_database_numbackends")
      CHECK(family.type == prometheus::MetricType::Gauge);
}

TEST_CASE("databases: sizes, connection limits, wraparound and expected databases") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.find("pg_database_size_bytes", {{"datname", "appdb"}})->gauge.value > 1e6);
  // The pg_monitor role may size a database it cannot connect to.
  CHECK(f.find("pg_database_size_bytes", {{"datname", "limited"}}) != nullptr);
  CHECK(f.find("pg_database_size_bytes", {{"datname", "template1"}}) == nullptr);
  CHECK(f.find("pg_database_connection_limit", {{"datname", "limited"}})->gauge.value == 5);
  CHECK(f.find("pg_database_connection_limit", {{"datname", "appdb"}})->gauge.value == -1);
  const auto* age =
      f.find("pg_database_wraparound_age_datfrozenxid_seconds", {{"datname", "template0"}});
  REQUIRE(age != nullptr);
  CHECK(age->gauge.value > 0);
  CHECK(f.find("pg_database_wraparound_age_datminmxid_seconds", {{"datname", "appdb"}}) != nullptr);
  CHECK(f.find("pg_database_wraparound_fraction", {{"datname", "template0"}})->gauge.value ==
        doctest::Approx(age->gauge.value / 2147483648.0));
  CHECK(f.find("pg_database_exists", {{"datname", "appdb"}})->gauge.value == 1);
  CHECK(f.find("pg_database_exists", {{"datname", "missingdb"}})->gauge.value == 0);
  CHECK(f.sink.series_count("pg_database_exists") == 2);
}

TEST_CASE("databases: wraparound fraction takes the older of xid and multixact age") {
  Fixture f;
  f.results[2] = QueryResult::from_rows({"datname", "age_datfrozenxid", "age_datminmxid"},
                                        {{"a", "1000", "1073741824"}, {"b", std::nullopt, "10"}});
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.find("pg_database_wraparound_fraction", {{"datname", "a"}})->gauge.value == 0.5);
  CHECK(f.find("pg_database_wraparound_age_datfrozenxid_seconds", {{"datname", "b"}}) == nullptr);
  CHECK(f.find("pg_database_exists", {{"datname", "appdb"}})->gauge.value == 0);
}

TEST_CASE("databases: checksum_failures is asked for on every supported version") {
  config::TargetConfig target;
  for (int version : {120000, 130000, 160000, 170000}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    CHECK(make_databases_probe()->queries(ctx)[0].sql.find("s.checksum_failures") !=
          std::string::npos);
  }
  auto old_server = recorded::server(110000);
  ProbeContext ctx{old_server, target, std::chrono::system_clock::now(), "postgres"};
  CHECK(make_databases_probe()->queries(ctx)[0].sql.find("s.checksum_failures") ==
        std::string::npos);
}

TEST_CASE("databases: include/exclude_databases narrow every statement's SQL") {
  config::TargetConfig target;
  auto server = recorded::server(160000);
  server.in_recovery = true;  // the conflicts statement too
  const std::vector<std::string> include{"app*"};
  const std::vector<std::string> exclude{"app_old"};
  ProbeContext ctx{
      server, target, std::chrono::system_clock::now(), "postgres", {include, exclude}};
  const auto queries = make_databases_probe()->queries(ctx);
  REQUIRE(queries.size() == 4);
  for (const auto& query : queries) {
    CAPTURE(query.name);
    CHECK(query.sql.find("LIKE ANY (ARRAY[E'app%']::text[])") != std::string::npos);
    CHECK(query.sql.find("NOT ") != std::string::npos);
  }
  ProbeContext plain{server, target, std::chrono::system_clock::now(), "postgres"};
  for (const auto& query : make_databases_probe()->queries(plain))
    CHECK(query.sql.find("LIKE ANY") == std::string::npos);
}

TEST_CASE("databases: a failed statement skips only its part") {
  Fixture f;
  f.results[1] = QueryResult::failure("42501", "permission denied for database limited");
  f.results[2] = QueryResult::failure("57014", "canceling statement due to statement timeout");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.series_count("pg_database_size_bytes") == 0);
  // Without the database list, existence is unknown rather than 0.
  CHECK(f.sink.series_count("pg_database_exists") == 0);
  CHECK(f.sink.series_count("pg_stat_database_xact_commit") > 0);
  CHECK(f.find("pgvigil_probe_permission_denied", {{"probe", "databases"}})->gauge.value == 1);
  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
}
