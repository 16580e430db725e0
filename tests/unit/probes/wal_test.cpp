#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/wal.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  explicit Fixture(int major_version = 15) : major(major_version) {}
  int major;
  ServerInfo server = recorded::server_for_major(major);
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_wal_probe();
  std::vector<QueryResult> results = recorded::load_all("wal", probe->queries(ctx), major);
  SampleSink sink;
};

constexpr double kSegmentBytes = 16.0 * 1024 * 1024;  // initdb's default

}  // namespace

TEST_CASE("wal: recorded SQL is the probe's SQL for PostgreSQL 13, 15 and 18") {
  for (int major : {13, 15, 18}) {
    CAPTURE(major);
    // Not a Fixture: that loads the replies, which a first recording lacks.
    const auto server = recorded::server_for_major(major);
    const config::TargetConfig target;
    const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    recorded::record_or_compare("wal", make_wal_probe()->queries(ctx), major);
  }
}

TEST_CASE("wal: position, timeline and pg_wal's segments on every recorded version") {
  for (int major : {13, 15, 18}) {
    CAPTURE(major);
    Fixture f(major);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& position = f.results.at(0);
    const auto lsn = position.number(0, "current_lsn_bytes");
    REQUIRE(lsn);
    CHECK(*lsn > 0);
    CHECK(f.sink.find("pg_wal_current_lsn_bytes")->gauge.value == *lsn);
    // A fresh cluster that never failed over is on timeline 1.
    CHECK(f.sink.find("pg_control_checkpoint_timeline_id")->gauge.value == 1);
    const auto segments = f.results.at(1).number(0, "segments");
    REQUIRE(segments);
    CHECK(*segments >= 1);
    CHECK(f.sink.find("pg_wal_segments")->gauge.value == *segments);
    CHECK(f.sink.find("pg_wal_size_bytes")->gauge.value == *segments * kSegmentBytes);
    CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "wal"}})->gauge.value == 0);
  }
}

TEST_CASE("wal: pg_stat_wal from 14, without the write and sync columns on 18") {
  {  // 13 has no pg_stat_wal: no statement, no series
    Fixture f(13);
    CHECK(f.probe->queries(f.ctx).size() == 2);
    f.probe->collect(f.ctx, f.results, f.sink);
    CHECK(f.sink.find("pg_stat_wal_wal_bytes") == nullptr);
    CHECK(f.sink.find("pg_stat_wal_wal_records") == nullptr);
  }
  for (int major : {15, 18}) {
    CAPTURE(major);
    Fixture f(major);
    REQUIRE(f.probe->queries(f.ctx).size() == 3);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& row = f.results.at(2);
    for (const auto& [column, metric] : std::vector<std::pair<std::string, std::string>>{
             {"wal_records", "pg_stat_wal_wal_records"},
             {"wal_fpi", "pg_stat_wal_wal_fpi"},
             {"wal_bytes", "pg_stat_wal_wal_bytes"},
             {"wal_buffers_full", "pg_stat_wal_wal_buffers_full"},
             {"stats_reset", "pg_stat_wal_stats_reset"}}) {
      CAPTURE(metric);
      const auto value = row.number(0, column);
      REQUIRE(value);
      const auto* sample = f.sink.find(metric);
      REQUIRE(sample != nullptr);
      CHECK(sample->counter.value == *value);
    }
    // The recording server created tables and loaded rows.
    CHECK(f.sink.find("pg_stat_wal_wal_bytes")->counter.value > 1e6);
    CHECK(f.sink.find("pg_stat_wal_wal_records")->counter.value > 1000);
    for (const char* metric : {"pg_stat_wal_wal_write", "pg_stat_wal_wal_sync",
                               "pg_stat_wal_wal_write_time", "pg_stat_wal_wal_sync_time"}) {
      CAPTURE(metric);
      CHECK((f.sink.find(metric) != nullptr) == (major < 18));
    }
  }
  for (int version : {140000, 170004}) {
    auto server = recorded::server(version);
    config::TargetConfig target;
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    const auto queries = make_wal_probe()->queries(ctx);
    REQUIRE(queries.size() == 3);
    CHECK(queries[2].sql.find("wal_sync_time") != std::string::npos);
  }
}

TEST_CASE("wal: a standby has no current position, a refused pg_ls_waldir is reported") {
  Fixture f;
  std::vector<QueryResult> results{
      QueryResult::from_rows({"current_lsn_bytes", "timeline_id"}, {{std::nullopt, "2"}}),
      QueryResult::failure("42501", "permission denied for function pg_ls_waldir"),
      QueryResult::from_rows(
          {"wal_records", "wal_fpi", "wal_bytes", "wal_buffers_full", "wal_write", "wal_sync",
           "wal_write_time", "wal_sync_time", "stats_reset"},
          {{"10", "2", "4096", "0", "3", "3", std::nullopt, "0", "1.7e9"}})};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.sink.find("pg_wal_current_lsn_bytes") == nullptr);
  CHECK(f.sink.find("pg_control_checkpoint_timeline_id")->gauge.value == 2);
  CHECK(f.sink.find("pg_wal_segments") == nullptr);
  CHECK(f.sink.find("pg_wal_size_bytes") == nullptr);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "wal"}})->gauge.value == 1);
  CHECK(f.sink.find("pg_stat_wal_wal_bytes")->counter.value == 4096);
  CHECK(f.sink.find("pg_stat_wal_wal_write_time") == nullptr);  // NULL: no sample
}
