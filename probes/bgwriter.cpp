#include "probes/bgwriter.hpp"

#include <array>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// One row; every counter since stats_reset. Up to 16 pg_stat_bgwriter holds
// the checkpointer's counters as well.
constexpr std::string_view kBgwriterSql = R"sql(
SELECT checkpoints_timed,
       checkpoints_req,
       checkpoint_write_time,
       checkpoint_sync_time,
       buffers_checkpoint,
       buffers_clean,
       maxwritten_clean,
       buffers_backend,
       buffers_backend_fsync,
       buffers_alloc,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_bgwriter)sql";

// 17 moved the checkpoint counters to pg_stat_checkpointer (renamed, plus
// restartpoints) and dropped buffers_backend and buffers_backend_fsync (their
// successor is pg_stat_io). Both one-row views joined, the checkpointer's
// columns under the 16 names so one parser reads either statement.
constexpr std::string_view kCheckpointerSql = R"sql(
SELECT c.num_timed AS checkpoints_timed,
       c.num_requested AS checkpoints_req,
       c.write_time AS checkpoint_write_time,
       c.sync_time AS checkpoint_sync_time,
       c.buffers_written AS buffers_checkpoint,
       c.restartpoints_timed,
       c.restartpoints_req,
       c.restartpoints_done,
       extract(epoch FROM c.stats_reset) AS checkpointer_stats_reset,
       b.buffers_clean,
       b.maxwritten_clean,
       b.buffers_alloc,
       extract(epoch FROM b.stats_reset) AS stats_reset
FROM pg_stat_checkpointer AS c
CROSS JOIN pg_stat_bgwriter AS b)sql";

constexpr int kFirstVersionWithCheckpointer = 170000;

struct Counter {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// postgres_exporter's names (collector/pg_stat_bgwriter.go, and
// pg_stat_checkpointer.go for the restartpoints); times in milliseconds, as
// the views and that exporter have them. A column the statement lacks (the
// backend counters on 17+, the restartpoints before 17) gives no sample.
constexpr std::array kCounters{
    Counter{"checkpoints_timed", "pg_stat_bgwriter_checkpoints_timed_total",
            "Scheduled checkpoints that have been performed."},
    Counter{"checkpoints_req", "pg_stat_bgwriter_checkpoints_req_total",
            "Requested checkpoints that have been performed."},
    Counter{"checkpoint_write_time", "pg_stat_bgwriter_checkpoint_write_time_total",
            "Time spent writing checkpoint files to disk, in milliseconds."},
    Counter{"checkpoint_sync_time", "pg_stat_bgwriter_checkpoint_sync_time_total",
            "Time spent synchronizing checkpoint files to disk, in milliseconds."},
    Counter{"buffers_checkpoint", "pg_stat_bgwriter_buffers_checkpoint_total",
            "Buffers written during checkpoints (and restartpoints on 17+)."},
    Counter{"buffers_clean", "pg_stat_bgwriter_buffers_clean_total",
            "Buffers written by the background writer."},
    Counter{"maxwritten_clean", "pg_stat_bgwriter_maxwritten_clean_total",
            "Times the background writer stopped a cleaning scan for writing too many buffers."},
    Counter{"buffers_backend", "pg_stat_bgwriter_buffers_backend_total",
            "Buffers written directly by a backend (up to PostgreSQL 16)."},
    Counter{"buffers_backend_fsync", "pg_stat_bgwriter_buffers_backend_fsync_total",
            "Times a backend had to execute its own fsync call (up to PostgreSQL 16)."},
    Counter{"buffers_alloc", "pg_stat_bgwriter_buffers_alloc_total", "Buffers allocated."},
    Counter{"stats_reset", "pg_stat_bgwriter_stats_reset_total",
            "When these statistics were last reset (unix time)."},
    Counter{"restartpoints_timed", "pg_stat_checkpointer_restartpoints_timed_total",
            "Scheduled restartpoints (by timeout, or retried after a failure); 17+."},
    Counter{"restartpoints_req", "pg_stat_checkpointer_restartpoints_req_total",
            "Requested restartpoints; 17+."},
    Counter{"restartpoints_done", "pg_stat_checkpointer_restartpoints_done_total",
            "Restartpoints that have been performed; 17+."},
    Counter{"checkpointer_stats_reset", "pg_stat_checkpointer_stats_reset_total",
            "When the checkpointer statistics were last reset (unix time); 17+."},
};

}  // namespace

std::vector<Query> BgwriterProbe::queries(const ProbeContext& ctx) const {
  if (ctx.server.version_num >= kFirstVersionWithCheckpointer)
    return {{"bgwriter", std::string(kCheckpointerSql)}};
  return {{"bgwriter", std::string(kBgwriterSql)}};
}

void BgwriterProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                            SampleSink& out) {
  report_permission_denied(out, {{"probe", "bgwriter"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok || results[0].rows.empty()) return;
  const auto& row = results[0];
  for (const auto& counter : kCounters)
    if (auto value = row.number(0, counter.column))
      out.counter(counter.metric, counter.help, {}, *value);
}

std::unique_ptr<SqlProbe> make_bgwriter_probe() {
  return std::make_unique<BgwriterProbe>();
}

}  // namespace pgvigil
