#include "probes/databases.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Templates are left out of the statistics (nobody works in them) but not out
// of wraparound: their XID age counts towards the cluster's limit as well.
constexpr std::string_view kStatsSql = R"sql(
SELECT s.datid, s.datname, s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read,
       s.blks_hit, s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, {checksum_failures} AS checksum_failures,
       s.blk_read_time, s.blk_write_time, extract(epoch FROM s.stats_reset) AS stats_reset,
       {session_time} AS session_time, {active_time} AS active_time
FROM pg_stat_database AS s
JOIN pg_database AS d ON d.oid = s.datid
WHERE d.datname NOT IN ('template0', 'template1') AND {datnames}
ORDER BY s.datname)sql";

constexpr std::string_view kChecksumFailuresSince12 = "s.checksum_failures";
constexpr std::string_view kChecksumFailuresBefore12 = "NULL::bigint";
// session_time and active_time (milliseconds) appeared in 14.
constexpr std::string_view kSessionTimeSince14 = "s.session_time";
constexpr std::string_view kActiveTimeSince14 = "s.active_time";
constexpr std::string_view kTimeBefore14 = "NULL::double precision";

// Queries cancelled on a standby by recovery, per cause. The view exists on a
// primary too (all zeros), so the probe asks only a server in recovery.
// confl_active_logicalslot appeared in 16 (logical decoding on standbys).
constexpr std::string_view kConflictsSql = R"sql(
SELECT datname, confl_tablespace, confl_lock, confl_snapshot, confl_bufferpin, confl_deadlock,
       {logicalslot} AS confl_active_logicalslot
FROM pg_stat_database_conflicts
WHERE datname NOT IN ('template0', 'template1') AND {datnames}
ORDER BY datname)sql";

constexpr std::string_view kLogicalSlotSince16 = "confl_active_logicalslot";
constexpr std::string_view kLogicalSlotBefore16 = "NULL::bigint";

// pg_database_size() raises 42501 without CONNECT on that database unless the
// role has pg_read_all_stats; asking first keeps one database from failing the
// whole statement (its size is then NULL: no sample).
constexpr std::string_view kSizeSql = R"sql(
SELECT datname,
       CASE WHEN has_database_privilege(oid, 'CONNECT')
                 OR pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN pg_database_size(oid) END AS size_bytes,
       datconnlimit AS connection_limit
FROM pg_database
WHERE datname NOT IN ('template0', 'template1') AND {datnames}
ORDER BY datname)sql";

constexpr std::string_view kWraparoundSql = R"sql(
SELECT datname, age(datfrozenxid) AS age_datfrozenxid, mxid_age(datminmxid) AS age_datminmxid
FROM pg_database
WHERE {datnames}
ORDER BY datname)sql";

enum Statement : std::size_t { kStats, kSize, kWraparound, kCount, kConflicts = kCount };

struct StatColumn {
  std::string_view column;
  bool counter;
  std::string_view help;
};

// Names are postgres_exporter's (collector/pg_stat_database.go): the
// column name, times in milliseconds as the view has them.
constexpr std::array<StatColumn, 18> kStatColumns{{
    {"numbackends", false, "Number of backends currently connected to this database"},
    {"xact_commit", true, "Number of transactions in this database that have been committed"},
    {"xact_rollback", true, "Number of transactions in this database that have been rolled back"},
    {"blks_read", true, "Number of disk blocks read in this database"},
    {"blks_hit", true, "Number of times disk blocks were found already in the buffer cache"},
    {"tup_returned", true,
     "Number of live rows fetched by sequential scans and index entries returned by index scans"},
    {"tup_fetched", true, "Number of live rows fetched by index scans in this database"},
    {"tup_inserted", true, "Number of rows inserted by queries in this database"},
    {"tup_updated", true, "Number of rows updated by queries in this database"},
    {"tup_deleted", true, "Number of rows deleted by queries in this database"},
    {"conflicts", true, "Number of queries canceled due to conflicts with recovery"},
    {"temp_files", true, "Number of temporary files created by queries in this database"},
    {"temp_bytes", true, "Total amount of data written to temporary files by queries"},
    {"deadlocks", true, "Number of deadlocks detected in this database"},
    {"checksum_failures", true, "Number of data page checksum failures detected"},
    {"blk_read_time", true,
     "Time spent reading data file blocks by backends, in milliseconds (track_io_timing)"},
    {"blk_write_time", true,
     "Time spent writing data file blocks by backends, in milliseconds (track_io_timing)"},
    {"stats_reset", true, "When these statistics were last reset (unix time)"},
}};

struct SecondsColumn {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// 14+; the view has milliseconds, postgres_exporter exposes seconds.
constexpr std::array<SecondsColumn, 2> kSecondsColumns{{
    {"active_time", "pg_stat_database_active_time_seconds_total",
     "Time spent executing SQL statements in this database, in seconds (14+)"},
    {"session_time", "pg_stat_database_session_time_seconds_total",
     "Time spent by database sessions in this database, in seconds (14+)"},
}};

constexpr std::array<std::string_view, 6> kConflictColumns{
    "confl_tablespace", "confl_lock",     "confl_snapshot",
    "confl_bufferpin",  "confl_deadlock", "confl_active_logicalslot"};

}  // namespace

std::vector<Query> DatabasesProbe::queries(const ProbeContext& ctx) const {
  const int version = ctx.server.version_num;
  const bool has_checksum_failures = version >= 120000;
  const bool has_session_times = version >= 140000;
  const std::string own_datnames = datname_prefilter(ctx.databases, "datname");
  std::vector<Query> queries{
      {"database_stats",
       fmt::format(
           fmt::runtime(kStatsSql),
           fmt::arg("checksum_failures",
                    has_checksum_failures ? kChecksumFailuresSince12 : kChecksumFailuresBefore12),
           fmt::arg("session_time", has_session_times ? kSessionTimeSince14 : kTimeBefore14),
           fmt::arg("active_time", has_session_times ? kActiveTimeSince14 : kTimeBefore14),
           fmt::arg("datnames", datname_prefilter(ctx.databases, "d.datname")))},
      {"database_size", fmt::format(fmt::runtime(kSizeSql), fmt::arg("datnames", own_datnames))},
      {"database_wraparound",
       fmt::format(fmt::runtime(kWraparoundSql), fmt::arg("datnames", own_datnames))},
  };
  if (ctx.server.in_recovery)
    queries.push_back(
        {"database_conflicts",
         fmt::format(fmt::runtime(kConflictsSql),
                     fmt::arg("logicalslot",
                              version >= 160000 ? kLogicalSlotSince16 : kLogicalSlotBefore16),
                     fmt::arg("datnames", own_datnames))});
  return queries;
}

void DatabasesProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                             SampleSink& out) {
  report_permission_denied(out, {{"probe", "databases"}}, any_permission_denied(results));
  if (results.size() < kCount) return;

  if (const auto& stats = results[kStats]; stats.ok) {
    for (std::size_t row = 0; row < stats.rows.size(); ++row) {
      auto datid = stats.text(row, "datid");
      auto datname = stats.text(row, "datname");
      if (!datid || !datname) continue;
      const Labels labels{{"datid", std::string(*datid)}, {"datname", std::string(*datname)}};
      for (const auto& column : kStatColumns) {
        auto value = stats.number(row, column.column);
        if (!value) continue;
        const std::string metric = fmt::format("pg_stat_database_{}", column.column);
        if (column.counter)
          out.counter(metric, column.help, labels, *value);
        else
          out.gauge(metric, column.help, labels, *value);
      }
      for (const auto& column : kSecondsColumns)
        if (auto value = stats.number(row, column.column))
          out.counter(column.metric, column.help, labels, *value / 1000.0);
    }
  }

  if (results.size() > kConflicts && results[kConflicts].ok) {
    const auto& conflicts = results[kConflicts];
    for (std::size_t row = 0; row < conflicts.rows.size(); ++row) {
      auto datname = conflicts.text(row, "datname");
      if (!datname) continue;
      const Labels labels{{"datname", std::string(*datname)}};
      for (auto column : kConflictColumns)
        if (auto value = conflicts.number(row, column))
          out.counter(fmt::format("pg_stat_database_conflicts_{}", column),
                      fmt::format("Queries in this database canceled on this standby by recovery "
                                  "conflicts ({})",
                                  column),
                      labels, *value);
    }
  }

  if (const auto& sizes = results[kSize]; sizes.ok) {
    for (std::size_t row = 0; row < sizes.rows.size(); ++row) {
      auto datname = sizes.text(row, "datname");
      if (!datname) continue;
      const Labels labels{{"datname", std::string(*datname)}};
      if (auto size = sizes.number(row, "size_bytes"))
        out.gauge("pg_database_size_bytes", "Disk space used by the database", labels, *size);
      if (auto limit = sizes.number(row, "connection_limit"))
        out.gauge("pg_database_connection_limit",
                  "Connection limit set for the database (-1: no limit)", labels, *limit);
    }
  }

  if (const auto& wraparound = results[kWraparound]; wraparound.ok) {
    std::set<std::string, std::less<>> present;
    for (std::size_t row = 0; row < wraparound.rows.size(); ++row) {
      auto datname = wraparound.text(row, "datname");
      if (!datname) continue;
      present.emplace(*datname);
      const Labels labels{{"datname", std::string(*datname)}};
      auto xid_age = wraparound.number(row, "age_datfrozenxid");
      auto mxid_age = wraparound.number(row, "age_datminmxid");
      if (xid_age) {
        // postgres_exporter's name; the value is a count of transactions.
        out.gauge("pg_database_wraparound_age_datfrozenxid_seconds",
                  "Age of the oldest transaction ID that has not been frozen (transactions)",
                  labels, *xid_age);
      }
      if (mxid_age)
        out.gauge("pg_database_wraparound_age_datminmxid_seconds",
                  "Age of the oldest multixact ID that has not been frozen (multixacts)", labels,
                  *mxid_age);
      if (xid_age || mxid_age)
        out.gauge("pg_database_wraparound_fraction",
                  "Larger of datfrozenxid and datminmxid age as a fraction of 2^31, the "
                  "wraparound hard limit",
                  labels,
                  std::max(xid_age.value_or(0.0), mxid_age.value_or(0.0)) / kWraparoundLimit);
    }
    for (const auto& expected : ctx.target.expected_databases)
      out.gauge("pg_database_exists", "1 when an expected database exists, else 0",
                {{"datname", expected}}, present.contains(expected) ? 1.0 : 0.0);
  }
}

std::unique_ptr<SqlProbe> make_databases_probe() {
  return std::make_unique<DatabasesProbe>();
}

}  // namespace pgvigil
