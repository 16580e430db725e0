#include <doctest/doctest.h>

#include <string>

#include "probes/slots.hpp"

namespace repl_fixture {
// Defined in replication_test.cpp.
pgvigil::QueryResult load(const std::string& scenario, const std::string& query);
std::string recorded_sql(const std::string& set, const std::string& query);
}  // namespace repl_fixture

namespace {

using pgvigil::Labels;
using pgvigil::QueryResult;
using pgvigil::SampleSink;

struct Setup {
  pgvigil::ServerInfo server;
  pgvigil::config::TargetConfig target;
  std::unique_ptr<pgvigil::SqlProbe> probe = pgvigil::make_slots_probe();

  Setup(bool in_recovery, int version_num = 150010) {
    server.version_num = version_num;
    server.in_recovery = in_recovery;
  }
  pgvigil::ProbeContext ctx() const {
    return {server, target, std::chrono::system_clock::now(), "postgres"};
  }
  SampleSink run(const std::vector<QueryResult>& results) {
    SampleSink sink;
    probe->collect(ctx(), results, sink);
    return sink;
  }
};

Labels physical(std::string slot) {
  return {{"slot_name", std::move(slot)}, {"slot_type", "physical"}, {"database", ""}};
}

Labels with(Labels labels, std::string key, std::string val) {
  labels.emplace_back(std::move(key), std::move(val));
  return labels;
}

double value(const SampleSink& sink, std::string_view name, const Labels& labels = {}) {
  const auto* metric = sink.find(name, labels);
  REQUIRE_MESSAGE(metric != nullptr, "no sample " << name);
  return metric->gauge.value;
}

}  // namespace

TEST_CASE("slots: the statements are the ones the fixtures were recorded with") {
  for (const auto& [set, recovery, version] :
       {std::tuple{"primary_pg15", false, 150010}, std::tuple{"standby_pg15", true, 150010},
        std::tuple{"primary_pg12", false, 120000},
        std::tuple{"standby_pg17_archive_always", true, 170000}}) {
    Setup setup(recovery, version);
    const auto queries = setup.probe->queries(setup.ctx());
    REQUIRE(queries.size() == 1);
    CAPTURE(set);
    CHECK(queries[0].sql == repl_fixture::recorded_sql(set, queries[0].name));
  }
}

TEST_CASE("slots: version gates for wal_status/safe_wal_size (13) and inactive_since (17)") {
  auto sql_for = [](int version) {
    Setup setup(false, version);
    return setup.probe->queries(setup.ctx()).at(0).sql;
  };
  CHECK(sql_for(120000).find("s.wal_status") == std::string::npos);
  CHECK(sql_for(120000).find("s.safe_wal_size") == std::string::npos);
  CHECK(sql_for(130000).find("s.wal_status") != std::string::npos);
  CHECK(sql_for(160000).find("inactive_since") == std::string::npos);
  CHECK(sql_for(170000).find("inactive_since") != std::string::npos);
  Setup setup(false);
  CHECK(setup.probe->default_interval() == std::chrono::seconds(15));
}

TEST_CASE("slots: an inactive physical slot retaining WAL on a primary") {
  Setup setup(false);
  auto sink = setup.run({repl_fixture::load("primary_inactive_slot", "replication_slots")});
  CHECK(value(sink, "pg_replication_slots_active", physical("replica1")) == 1);
  CHECK(value(sink, "pg_replication_slots_active", physical("stale1")) == 0);
  CHECK(value(sink, "pg_replication_slots_pg_wal_lsn_diff", physical("replica1")) == 0);
  CHECK(value(sink, "pg_replication_slots_pg_wal_lsn_diff", physical("stale1")) == 54736624);
  CHECK(value(sink, "pg_replication_slots_safe_wal_size_bytes", physical("stale1")) == 29149416);
  CHECK(sink.series_count("pg_replication_slots_wal_status") == 8);  // 2 slots x 4 states
  CHECK(value(sink, "pg_replication_slots_wal_status",
              with(physical("stale1"), "wal_status", "reserved")) == 1);
  CHECK(value(sink, "pg_replication_slots_wal_status",
              with(physical("stale1"), "wal_status", "lost")) == 0);
  CHECK(sink.find("pg_replication_slots_xmin_age_xids", physical("replica1")) == nullptr);

  // never_used never reserved WAL: no restart_lsn, no wal_status, and the
  // negative safe_wal_size PostgreSQL reports for it is not passed on.
  CHECK(value(sink, "pg_replication_slots_active", physical("never_used")) == 0);
  CHECK(sink.find("pg_replication_slots_pg_wal_lsn_diff", physical("never_used")) == nullptr);
  CHECK(sink.find("pg_replication_slots_safe_wal_size_bytes", physical("never_used")) == nullptr);
  CHECK(sink.find("pg_replication_slots_wal_status",
                  with(physical("never_used"), "wal_status", "reserved")) == nullptr);
  CHECK(sink.series_count("pg_replication_slots_inactive_seconds") == 0);  // 15: no column

  const auto& evidence = sink.evidence().at("slots.inactive");
  CHECK(evidence.find("stale1 physical - 54736624 reserved") != std::string::npos);
  CHECK(evidence.find("never_used") != std::string::npos);
  CHECK(evidence.find("replica1") == std::string::npos);
}

TEST_CASE("slots: a slot whose WAL was removed is lost") {
  Setup setup(false);
  auto sink = setup.run({repl_fixture::load("primary_lost_slot", "replication_slots")});
  CHECK(value(sink, "pg_replication_slots_wal_status",
              with(physical("stale1"), "wal_status", "lost")) == 1);
  CHECK(value(sink, "pg_replication_slots_wal_status",
              with(physical("stale1"), "wal_status", "reserved")) == 0);
  CHECK(sink.find("pg_replication_slots_safe_wal_size_bytes", physical("stale1")) == nullptr);
  CHECK(sink.find("pg_replication_slots_pg_wal_lsn_diff", physical("stale1")) == nullptr);
  CHECK(value(sink, "pg_replication_slots_safe_wal_size_bytes", physical("replica1")) == 68933176);
}

TEST_CASE("slots: on a standby retained WAL is measured from the received LSN") {
  Setup setup(true);
  auto sink = setup.run({repl_fixture::load("standby_with_slot", "replication_slots")});
  CHECK(value(sink, "pg_replication_slots_pg_wal_lsn_diff", physical("standby_slot")) == 54736624);
  CHECK(value(sink, "pg_replication_slots_active", physical("standby_slot")) == 0);

  auto none = setup.run({repl_fixture::load("standby_idle", "replication_slots")});
  CHECK(none.empty());
  CHECK(none.evidence().at("slots.inactive") == "no inactive replication slots\n");
}

TEST_CASE("slots: logical slots carry their database, 17's inactive_since") {
  Setup setup(false, 170000);
  auto rows = repl_fixture::load("primary_inactive_slot", "replication_slots");
  auto logical = rows.rows.at(2);  // stale1
  auto set = [&](std::string_view column, std::optional<std::string> cell) {
    logical[static_cast<std::size_t>(rows.column(column))] = std::move(cell);
  };
  set("slot_name", "sub1");
  set("slot_type", "logical");
  set("database", "app");
  set("catalog_xmin_age", "1234");
  set("inactive_seconds", "42.5");
  rows.rows.push_back(logical);
  auto sink = setup.run({rows});
  const Labels sub1{{"slot_name", "sub1"}, {"slot_type", "logical"}, {"database", "app"}};
  CHECK(value(sink, "pg_replication_slots_catalog_xmin_age_xids", sub1) == 1234);
  CHECK(value(sink, "pg_replication_slots_inactive_seconds", sub1) == 42.5);
  CHECK(sink.series_count("pg_replication_slots_inactive_seconds") == 1);
}

TEST_CASE("slots: a failed statement or odd rows emit nothing wrong") {
  Setup setup(false);
  CHECK(setup.run({QueryResult::failure("42501", "permission denied")}).empty());
  CHECK(setup.run({}).empty());
  auto odd = QueryResult::from_rows({"slot_name", "active", "retained_bytes"},
                                    {{std::nullopt, "t", "1"}, {"x", "yes", "not a number"}});
  auto sink = setup.run({odd});
  CHECK(sink.series_count("pg_replication_slots_active") == 0);
  CHECK(sink.series_count("pg_replication_slots_pg_wal_lsn_diff") == 0);
}
