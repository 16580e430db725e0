#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/bgwriter.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  explicit Fixture(int major_version = 15) : major(major_version) {}
  int major;
  ServerInfo server = recorded::server_for_major(major);
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_bgwriter_probe();
  std::vector<QueryResult> results = recorded::load_all("bgwriter", probe->queries(ctx), major);
  SampleSink sink;
};

// The columns of 17+'s statement and the names they feed.
const std::vector<std::pair<std::string, std::string>> kCheckpointerColumns{
    {"checkpoints_timed", "pg_stat_bgwriter_checkpoints_timed_total"},
    {"checkpoints_req", "pg_stat_bgwriter_checkpoints_req_total"},
    {"checkpoint_write_time", "pg_stat_bgwriter_checkpoint_write_time_total"},
    {"checkpoint_sync_time", "pg_stat_bgwriter_checkpoint_sync_time_total"},
    {"buffers_checkpoint", "pg_stat_bgwriter_buffers_checkpoint_total"},
    {"buffers_clean", "pg_stat_bgwriter_buffers_clean_total"},
    {"maxwritten_clean", "pg_stat_bgwriter_maxwritten_clean_total"},
    {"buffers_alloc", "pg_stat_bgwriter_buffers_alloc_total"},
    {"stats_reset", "pg_stat_bgwriter_stats_reset_total"},
    {"restartpoints_timed", "pg_stat_checkpointer_restartpoints_timed_total"},
    {"restartpoints_req", "pg_stat_checkpointer_restartpoints_req_total"},
    {"restartpoints_done", "pg_stat_checkpointer_restartpoints_done_total"},
    {"checkpointer_stats_reset", "pg_stat_checkpointer_stats_reset_total"}};

}  // namespace

TEST_CASE("bgwriter: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("bgwriter", f.probe->queries(f.ctx));
}

TEST_CASE("bgwriter: every counter of the recorded row under postgres_exporter's name (15)") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& row = f.results.at(0);
  for (const auto& [column, metric] : std::vector<std::pair<std::string, std::string>>{
           {"checkpoints_timed", "pg_stat_bgwriter_checkpoints_timed_total"},
           {"checkpoints_req", "pg_stat_bgwriter_checkpoints_req_total"},
           {"checkpoint_write_time", "pg_stat_bgwriter_checkpoint_write_time_total"},
           {"checkpoint_sync_time", "pg_stat_bgwriter_checkpoint_sync_time_total"},
           {"buffers_checkpoint", "pg_stat_bgwriter_buffers_checkpoint_total"},
           {"buffers_clean", "pg_stat_bgwriter_buffers_clean_total"},
           {"maxwritten_clean", "pg_stat_bgwriter_maxwritten_clean_total"},
           {"buffers_backend", "pg_stat_bgwriter_buffers_backend_total"},
           {"buffers_backend_fsync", "pg_stat_bgwriter_buffers_backend_fsync_total"},
           {"buffers_alloc", "pg_stat_bgwriter_buffers_alloc_total"},
           {"stats_reset", "pg_stat_bgwriter_stats_reset_total"}}) {
    const auto value = row.number(0, column);
    REQUIRE_MESSAGE(value, column);
    const auto* sample = f.sink.find(metric);
    REQUIRE_MESSAGE(sample != nullptr, metric);
    CHECK_MESSAGE(sample->counter.value == *value, metric);
  }
  // A server that has run a while has checkpointed and allocated buffers.
  CHECK(f.sink.find("pg_stat_bgwriter_buffers_alloc_total")->counter.value > 0);
  CHECK(f.sink.find("pg_stat_bgwriter_checkpoints_req_total")->counter.value >= 1);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "bgwriter"}})->gauge.value == 0);
}

TEST_CASE("bgwriter: recorded SQL is the probe's SQL for PostgreSQL 17 and 18") {
  for (int major : {17, 18}) {
    CAPTURE(major);
    // Not a Fixture: that loads the replies, which a first recording lacks.
    const auto server = recorded::server_for_major(major);
    const config::TargetConfig target;
    const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    recorded::record_or_compare("bgwriter", make_bgwriter_probe()->queries(ctx), major);
  }
}

TEST_CASE("bgwriter: 17 and 18 feed postgres_exporter's names from pg_stat_checkpointer") {
  for (int major : {17, 18}) {
    CAPTURE(major);
    Fixture f(major);
    REQUIRE(f.probe->queries(f.ctx).at(0).sql.find("pg_stat_checkpointer") != std::string::npos);
    f.probe->collect(f.ctx, f.results, f.sink);
    const auto& row = f.results.at(0);
    for (const auto& [column, metric] : kCheckpointerColumns) {
      CAPTURE(metric);
      const auto value = row.number(0, column);
      REQUIRE(value);
      const auto* sample = f.sink.find(metric);
      REQUIRE(sample != nullptr);
      CHECK(sample->counter.value == *value);
    }
    // The recording server ran CHECKPOINT; the backend counters are gone.
    CHECK(f.sink.find("pg_stat_bgwriter_checkpoints_req_total")->counter.value >= 1);
    CHECK(f.sink.find("pg_stat_bgwriter_buffers_backend_total") == nullptr);
    CHECK(f.sink.find("pg_stat_bgwriter_buffers_backend_fsync_total") == nullptr);
    // A primary performs no restartpoints.
    CHECK(f.sink.find("pg_stat_checkpointer_restartpoints_done_total")->counter.value == 0);
    CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "bgwriter"}})->gauge.value ==
          0);
  }
}

TEST_CASE("bgwriter: NULL means no sample, a failure skips everything, each version its view") {
  Fixture f;
  std::vector<QueryResult> results{QueryResult::from_rows(
      {"checkpoints_timed", "checkpoints_req", "checkpoint_write_time", "checkpoint_sync_time",
       "buffers_checkpoint", "buffers_clean", "maxwritten_clean", "buffers_backend",
       "buffers_backend_fsync", "buffers_alloc", "stats_reset"},
      {{"5", "2", "10.5", "1.25", "300", "0", "0", "40", "0", "900", std::nullopt}})};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(f.sink.find("pg_stat_bgwriter_checkpoint_write_time_total")->counter.value == 10.5);
  CHECK(f.sink.find("pg_stat_bgwriter_stats_reset_total") == nullptr);

  SampleSink denied;
  std::vector<QueryResult> failed{QueryResult::failure("42501", "permission denied")};
  f.probe->collect(f.ctx, failed, denied);
  CHECK(denied.find("pg_stat_bgwriter_buffers_alloc_total") == nullptr);
  CHECK(denied.find("pgvigil_probe_permission_denied", {{"probe", "bgwriter"}})->gauge.value == 1);

  config::TargetConfig target;
  for (int version : {130000, 160004, 170000, 180001}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    const auto queries = make_bgwriter_probe()->queries(ctx);
    REQUIRE(queries.size() == 1);
    CHECK_MESSAGE(
        (queries[0].sql.find("pg_stat_checkpointer") != std::string::npos) == (version >= 170000),
        version);
  }
  // Before 17 there are no restartpoint series.
  CHECK(f.sink.find("pg_stat_checkpointer_restartpoints_done_total") == nullptr);
}
