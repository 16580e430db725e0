#include "probes/wal.hpp"

#include <array>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// The current position only on a primary: a standby's received and replayed
// positions are the replication probe's (pg_replication_receive_lsn_bytes,
// pg_replication_replay_lsn_bytes). The CASE asks pg_is_in_recovery() itself
// so a promotion between rounds cannot make pg_current_wal_lsn() fail.
constexpr std::string_view kPositionSql = R"sql(
SELECT CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END AS current_lsn_bytes,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline_id)sql";

// Segment files only (24 hex digits), as postgres_exporter counts them: not
// .history, .partial, archive_status or summaries.
constexpr std::string_view kDirectorySql = R"sql(
SELECT count(*) AS segments, sum(size) AS size_bytes
FROM pg_ls_waldir()
WHERE name ~ '^[0-9A-F]{24}$')sql";

// pg_stat_wal exists from 14; 18 moved the write/sync counters and times to
// pg_stat_io (object 'wal').
constexpr std::string_view kStatWalSql = R"sql(
SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, wal_write_time,
       wal_sync_time, extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_wal)sql";

constexpr std::string_view kStatWalSince18Sql = R"sql(
SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_wal)sql";

constexpr int kFirstVersionWithStatWal = 140000;
constexpr int kFirstVersionWithoutWalWrite = 180000;

struct Column {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// postgres_exporter's names (collector/pg_stat_wal.go): counters without the
// _total suffix, times in milliseconds as the view has them.
constexpr std::array kStatWalColumns{
    Column{"wal_records", "pg_stat_wal_wal_records", "WAL records generated (14+)."},
    Column{"wal_fpi", "pg_stat_wal_wal_fpi", "WAL full page images generated (14+)."},
    Column{"wal_bytes", "pg_stat_wal_wal_bytes", "WAL generated, in bytes (14+)."},
    Column{"wal_buffers_full", "pg_stat_wal_wal_buffers_full",
           "Times WAL was written to disk because the WAL buffers were full (14+)."},
    Column{"wal_write", "pg_stat_wal_wal_write",
           "Times WAL buffers were written out to disk (14 to 17)."},
    Column{"wal_sync", "pg_stat_wal_wal_sync", "Times WAL files were synced to disk (14 to 17)."},
    Column{"wal_write_time", "pg_stat_wal_wal_write_time",
           "Time spent writing WAL buffers to disk, in milliseconds (14 to 17, with "
           "track_wal_io_timing)."},
    Column{"wal_sync_time", "pg_stat_wal_wal_sync_time",
           "Time spent syncing WAL files to disk, in milliseconds (14 to 17, with "
           "track_wal_io_timing)."},
    Column{"stats_reset", "pg_stat_wal_stats_reset",
           "When pg_stat_wal was last reset (unix time; 14+)."},
};

enum Statement : std::size_t { kPosition, kDirectory, kStatWal };

}  // namespace

std::vector<Query> WalProbe::queries(const ProbeContext& ctx) const {
  std::vector<Query> queries{{"wal_position", std::string(kPositionSql)},
                             {"wal_directory", std::string(kDirectorySql)}};
  const int version = ctx.server.version_num;
  if (version >= kFirstVersionWithoutWalWrite)
    queries.push_back({"stat_wal", std::string(kStatWalSince18Sql)});
  else if (version >= kFirstVersionWithStatWal)
    queries.push_back({"stat_wal", std::string(kStatWalSql)});
  return queries;
}

void WalProbe::collect(const ProbeContext&, std::span<const QueryResult> results, SampleSink& out) {
  report_permission_denied(out, {{"probe", "wal"}}, any_permission_denied(results));

  if (results.size() > kPosition && results[kPosition].ok && !results[kPosition].rows.empty()) {
    const auto& row = results[kPosition];
    if (auto lsn = row.number(0, "current_lsn_bytes"))
      out.gauge("pg_wal_current_lsn_bytes",
                "The primary's current WAL write position (pg_current_wal_lsn()) in bytes; its "
                "rate is the WAL generation rate",
                {}, *lsn);
    if (auto timeline = row.number(0, "timeline_id"))
      out.gauge("pg_control_checkpoint_timeline_id",
                "Timeline of the last checkpoint or restartpoint (pg_control_checkpoint())", {},
                *timeline);
  }

  if (results.size() > kDirectory && results[kDirectory].ok && !results[kDirectory].rows.empty()) {
    const auto& row = results[kDirectory];
    if (auto segments = row.number(0, "segments"))
      out.gauge("pg_wal_segments", "WAL segment files in pg_wal", {}, *segments);
    if (auto size = row.number(0, "size_bytes"))
      out.gauge("pg_wal_size_bytes", "Total size of the WAL segment files in pg_wal", {}, *size);
  }

  if (results.size() > kStatWal && results[kStatWal].ok && !results[kStatWal].rows.empty()) {
    const auto& row = results[kStatWal];
    for (const auto& column : kStatWalColumns)
      if (auto value = row.number(0, column.column))
        out.counter(column.metric, column.help, {}, *value);
  }
}

std::unique_ptr<SqlProbe> make_wal_probe() {
  return std::make_unique<WalProbe>();
}

}  // namespace pgvigil
