#include "probes/bgwriter.hpp"

#include <array>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// One row; every counter since stats_reset. Up to 16 (17 split the view).
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

constexpr int kLastVersionWithCheckpointColumns = 169999;

struct Counter {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// postgres_exporter's names (collector/pg_stat_bgwriter.go); times in
// milliseconds, as the view and that exporter have them.
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
            "Buffers written during checkpoints."},
    Counter{"buffers_clean", "pg_stat_bgwriter_buffers_clean_total",
            "Buffers written by the background writer."},
    Counter{"maxwritten_clean", "pg_stat_bgwriter_maxwritten_clean_total",
            "Times the background writer stopped a cleaning scan for writing too many buffers."},
    Counter{"buffers_backend", "pg_stat_bgwriter_buffers_backend_total",
            "Buffers written directly by a backend."},
    Counter{"buffers_backend_fsync", "pg_stat_bgwriter_buffers_backend_fsync_total",
            "Times a backend had to execute its own fsync call."},
    Counter{"buffers_alloc", "pg_stat_bgwriter_buffers_alloc_total", "Buffers allocated."},
};

}  // namespace

std::vector<Query> BgwriterProbe::queries(const ProbeContext& ctx) const {
  if (ctx.server.version_num > kLastVersionWithCheckpointColumns) return {};
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
  if (auto reset = row.number(0, "stats_reset"))
    out.counter("pg_stat_bgwriter_stats_reset_total",
                "When these statistics were last reset (unix time).", {}, *reset);
}

std::unique_ptr<SqlProbe> make_bgwriter_probe() {
  return std::make_unique<BgwriterProbe>();
}

}  // namespace pgvigil
