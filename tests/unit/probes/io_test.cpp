#include <doctest/doctest.h>

#include <set>

#include "data/sql/recorded.hpp"
#include "probes/io.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  explicit Fixture(int major_version) : major(major_version) {}
  int major;
  ServerInfo server = recorded::server_for_major(major);
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_io_probe();
  std::vector<QueryResult> results = recorded::load_all("io", probe->queries(ctx), major);
  SampleSink sink;
};

const std::vector<std::pair<std::string, std::string>> kColumns{
    {"reads", "pg_stat_io_reads_total"},
    {"read_bytes", "pg_stat_io_read_bytes_total"},
    {"read_time", "pg_stat_io_read_time_total"},
    {"writes", "pg_stat_io_writes_total"},
    {"write_bytes", "pg_stat_io_write_bytes_total"},
    {"write_time", "pg_stat_io_writes_time_total"},
    {"writebacks", "pg_stat_io_write_back_total"},
    {"writeback_time", "pg_stat_io_write_back_time_total"},
    {"extends", "pg_stat_io_extends_total"},
    {"extend_bytes", "pg_stat_io_extend_bytes_total"},
    {"extend_time", "pg_stat_io_extends_time_total"},
    {"hits", "pg_stat_io_hits_total"},
    {"evictions", "pg_stat_io_evictions_total"},
    {"reuses", "pg_stat_io_reuses_total"},
    {"fsyncs", "pg_stat_io_fsync_total"},
    {"fsync_time", "pg_stat_io_fsync_time_total"}};

}  // namespace

TEST_CASE("io: recorded SQL is the probe's SQL for PostgreSQL 16 and 18") {
  for (int major : {16, 18}) {
    CAPTURE(major);
    const auto server = recorded::server_for_major(major);
    const config::TargetConfig target;
    const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    recorded::record_or_compare("io", make_io_probe()->queries(ctx), major);
  }
}

TEST_CASE("io: no pg_stat_io before 16, byte columns on 18") {
  const config::TargetConfig target;
  for (int version : {130023, 150018, 160014, 170010, 180004}) {
    CAPTURE(version);
    const auto server = recorded::server(version);
    const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    const auto queries = make_io_probe()->queries(ctx);
    REQUIRE(queries.size() == (version >= 160000 ? 1u : 0u));
    if (queries.empty()) continue;
    CHECK((queries[0].sql.find("op_bytes") == std::string::npos) == (version >= 180000));
  }
}

TEST_CASE("io: every counted row of the recordings, rows with nothing counted left out") {
  for (int major : {16, 18}) {
    CAPTURE(major);
    Fixture f(major);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& rows = f.results.at(0);
    REQUIRE(rows.rows.size() > 20);  // the view's fixed set of combinations
    std::size_t counted_rows = 0;
    for (std::size_t row = 0; row < rows.rows.size(); ++row) {
      const Labels labels{{"backend_type", std::string(*rows.text(row, "backend_type"))},
                          {"object", std::string(*rows.text(row, "object"))},
                          {"context", std::string(*rows.text(row, "context"))}};
      bool counted = false;
      for (const auto& [column, metric] : kColumns)
        if (auto value = rows.number(row, column); value && *value != 0) counted = true;
      counted_rows += counted ? 1 : 0;
      for (const auto& [column, metric] : kColumns) {
        CAPTURE(metric);
        CAPTURE(labels[0].second + "/" + labels[1].second + "/" + labels[2].second);
        const auto value = rows.number(row, column);
        const auto* sample = f.sink.find(metric, labels);
        REQUIRE((sample != nullptr) == (counted && value.has_value()));
        if (sample) CHECK(sample->counter.value == *value);
      }
    }
    CHECK(counted_rows > 0);
    CHECK(counted_rows < rows.rows.size());  // some rows are all zero or NULL
    CHECK(f.sink.series_count("pg_stat_io_hits_total") <= counted_rows);
    // Client backends found relation blocks in shared buffers.
    const Labels normal{
        {"backend_type", "client backend"}, {"object", "relation"}, {"context", "normal"}};
    CHECK(f.sink.find("pg_stat_io_hits_total", normal)->counter.value > 0);
    if (major < 18) {  // 16 and 17: bytes are operations of one block
      const auto reads = f.sink.find("pg_stat_io_reads_total", normal)->counter.value;
      CHECK(f.sink.find("pg_stat_io_read_bytes_total", normal)->counter.value == reads * 8192);
    }
    CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "io"}})->gauge.value == 0);
  }
}

TEST_CASE("io: NULL gives no sample, a failed statement no series") {
  Fixture f(16);
  std::vector<QueryResult> results{QueryResult::from_rows(
      {"backend_type", "object", "context", "reads", "read_bytes", "hits", "fsyncs"},
      {{"checkpointer", "relation", "normal", std::nullopt, std::nullopt, std::nullopt, "4"},
       {"autovacuum worker", "relation", "vacuum", "0", "0", "0", std::nullopt},
       {std::nullopt, "relation", "normal", "9", "9", "9", "9"}})};
  f.probe->collect(f.ctx, results, f.sink);
  const Labels checkpointer{
      {"backend_type", "checkpointer"}, {"object", "relation"}, {"context", "normal"}};
  CHECK(f.sink.find("pg_stat_io_fsync_total", checkpointer)->counter.value == 4);
  CHECK(f.sink.find("pg_stat_io_reads_total", checkpointer) == nullptr);
  CHECK(f.sink.series_count("pg_stat_io_fsync_total") == 1);  // zero row and unlabelled row out
  CHECK(f.sink.series_count("pg_stat_io_reads_total") == 0);

  SampleSink failed;
  std::vector<QueryResult> timeout{QueryResult::failure("57014", "canceling statement")};
  f.probe->collect(f.ctx, timeout, failed);
  CHECK(failed.series_count("pg_stat_io_reads_total") == 0);
  CHECK(failed.find("pgvigil_probe_permission_denied", {{"probe", "io"}})->gauge.value == 0);
}
