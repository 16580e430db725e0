#include "probes/archiver.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace pgvigil {
namespace {

constexpr std::string_view kSettingsQuery = "archiver_settings";
// Only whether archive_command is set leaves the server, never its text: it
// may embed credentials. archive_library exists from 15 (missing_ok gives NULL
// before). The write position tells whether WAL is still being produced.
constexpr std::string_view kSettingsSql = R"(SELECT current_setting('archive_mode') AS archive_mode,
       current_setting('archive_command') <> '' AS archive_command_set,
       COALESCE(current_setting('archive_library', true), '') <> '' AS archive_library_set,
       pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                            THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                            ELSE pg_current_wal_lsn() END, '0/0') AS current_lsn_bytes)";

constexpr std::string_view kStatsQuery = "archiver_stats";
constexpr std::string_view kStatsSql = R"(SELECT archived_count,
       failed_count,
       last_archived_wal,
       last_archived_time,
       EXTRACT(EPOCH FROM last_archived_time) AS last_archived_time_seconds,
       EXTRACT(EPOCH FROM now() - last_archived_time) AS last_archive_age,
       last_failed_wal,
       last_failed_time,
       EXTRACT(EPOCH FROM last_failed_time) AS last_failed_time_seconds
FROM pg_stat_archiver)";

constexpr std::string_view kStatusDirQuery = "archiver_status_dir";
// pg_ls_archive_statusdir (12+) is granted to pg_monitor.
constexpr std::string_view kStatusDirSql = R"(SELECT count(*) AS ready_files,
       EXTRACT(EPOCH FROM now() - min(modification)) AS oldest_ready_age_seconds
FROM pg_ls_archive_statusdir()
WHERE name LIKE '%.ready')";

// The archiver runs on a primary with archive_mode on or always, and on a
// standby only with always. An empty mode means "not known yet": ask.
bool archiver_runs(std::string_view archive_mode, bool in_recovery) {
  if (archive_mode.empty()) return true;
  if (archive_mode == "off") return false;
  return !in_recovery || archive_mode == "always";
}

const QueryResult* result_for(std::span<const Query> queries, std::span<const QueryResult> results,
                              std::string_view name) {
  for (std::size_t i = 0; i < queries.size() && i < results.size(); ++i)
    if (queries[i].name == name) return results[i].ok ? &results[i] : nullptr;
  return nullptr;
}

class ArchiverProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "archiver"; }
  config::Duration default_interval() const noexcept override { return config::Duration{15'000}; }

  std::vector<Query> queries(const ProbeContext& ctx) const override {
    std::vector<Query> planned{{std::string(kSettingsQuery), std::string(kSettingsSql)}};
    // archive_mode needs a restart, so the connection-time snapshot is current.
    if (archiver_runs(ctx.server.setting("archive_mode"), ctx.server.in_recovery)) {
      planned.push_back({std::string(kStatsQuery), std::string(kStatsSql)});
      planned.push_back({std::string(kStatusDirQuery), std::string(kStatusDirSql)});
    }
    return planned;
  }

  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override {
    const auto planned = queries(ctx);
    const QueryResult* settings = result_for(planned, results, kSettingsQuery);

    std::optional<bool> enabled;
    std::optional<double> current_lsn;
    bool runs = archiver_runs(ctx.server.setting("archive_mode"), ctx.server.in_recovery);
    if (settings && !settings->rows.empty()) {
      const auto mode = settings->text(0, "archive_mode");
      const auto command_set = settings->boolean(0, "archive_command_set");
      const auto library_set = settings->boolean(0, "archive_library_set");
      if (mode && command_set)
        enabled =
            (*mode == "on" || *mode == "always") && (*command_set || library_set.value_or(false));
      if (enabled)
        out.gauge("pg_wal_archiving_enabled",
                  "1 when archive_mode is on or always and archive_command or archive_library is "
                  "set",
                  {}, *enabled ? 1.0 : 0.0);
      if (mode)
        runs = archiver_runs(*mode,
                             settings->boolean(0, "in_recovery").value_or(ctx.server.in_recovery));
      current_lsn = settings->number(0, "current_lsn_bytes");
    }
    // Whether WAL moved is judged against the previous round of this probe.
    const bool lsn_moved = current_lsn && previous_lsn_ && *current_lsn != *previous_lsn_;
    if (current_lsn) previous_lsn_ = current_lsn;
    if (!runs) return;

    const QueryResult* stats = result_for(planned, results, kStatsQuery);
    std::optional<double> last_archive_age;
    if (stats && !stats->rows.empty()) last_archive_age = collect_stats(*stats, out);

    const QueryResult* status_dir = result_for(planned, results, kStatusDirQuery);
    std::optional<double> pending;
    std::optional<double> oldest_pending_age;
    if (status_dir && !status_dir->rows.empty()) {
      pending = status_dir->number(0, "ready_files");
      oldest_pending_age = status_dir->number(0, "oldest_ready_age_seconds");
      if (pending)
        out.gauge("pg_wal_archive_pending_files",
                  "WAL segments waiting to be archived (.ready files in archive_status)", {},
                  *pending);
      if (oldest_pending_age)
        out.gauge("pg_wal_archive_oldest_pending_age_seconds",
                  "Seconds since the oldest WAL segment waiting for the archiver was completed", {},
                  *oldest_pending_age < 0 ? 0.0 : *oldest_pending_age);
    }

    if (enabled != true) return;
    const double rpo_seconds = std::chrono::duration<double>(ctx.target.rpo).count();
    out.gauge("pg_wal_archive_rpo_seconds",
              "Recovery point objective for WAL archiving of this target (configured)", {},
              rpo_seconds);
    // The exposure is the age of the newest archived segment, but only while
    // there is new WAL to lose. Nothing ever archived: the oldest waiting
    // segment's age stands in; with neither known, no verdict is given.
    if (!stats || !status_dir) return;
    const bool wal_written = (pending && *pending > 0) || lsn_moved;
    std::optional<double> exposure = last_archive_age;
    if (!exposure && pending && *pending > 0) exposure = oldest_pending_age;
    if (!wal_written) exposure = 0.0;
    if (!exposure) return;
    out.gauge("pg_wal_archive_rpo_breached",
              "1 when WAL is being written and the newest archived segment is older than the RPO",
              {}, *exposure > rpo_seconds ? 1.0 : 0.0);
  }

 private:
  // Returns the age of the newest archived segment, when there is one.
  static std::optional<double> collect_stats(const QueryResult& stats, SampleSink& out) {
    if (auto count = stats.number(0, "archived_count"))
      out.counter("pg_stat_archiver_archived_count",
                  "Number of WAL files that have been successfully archived", {}, *count);
    if (auto count = stats.number(0, "failed_count"))
      out.counter("pg_stat_archiver_failed_count",
                  "Number of failed attempts for archiving WAL files", {}, *count);
    auto age = stats.number(0, "last_archive_age");
    if (age) {
      if (*age < 0) age = 0.0;
      out.gauge("pg_stat_archiver_last_archive_age",
                "Time in seconds since last WAL segment was successfully archived", {}, *age);
    }
    const auto archived_at = stats.number(0, "last_archived_time_seconds");
    if (archived_at)
      out.gauge("pg_stat_archiver_last_archived_timestamp_seconds",
                "Time of the last successful archive, as Unix seconds", {}, *archived_at);
    const auto failed_at = stats.number(0, "last_failed_time_seconds");
    if (failed_at)
      out.gauge("pg_stat_archiver_last_failed_timestamp_seconds",
                "Time of the last failed archival attempt, as Unix seconds", {}, *failed_at);
    // Failing now = the last failure is newer than the last success.
    out.gauge("pg_wal_archive_failing",
              "1 when the last archival attempt failed (last failure newer than last success)", {},
              failed_at && (!archived_at || *failed_at > *archived_at) ? 1.0 : 0.0);

    if (auto wal = stats.text(0, "last_failed_wal")) {
      std::string text = "last failed WAL ";
      text += *wal;
      text += " at ";
      text += stats.text(0, "last_failed_time").value_or("unknown time");
      text += " (";
      text += stats.text(0, "failed_count").value_or("?");
      text += " failures since stats reset); last archived ";
      text += stats.text(0, "last_archived_wal").value_or("none");
      if (auto when = stats.text(0, "last_archived_time")) {
        text += " at ";
        text += *when;
      }
      text += '\n';
      out.evidence("archiver.last_failure", std::move(text));
    }
    return age;
  }

  std::optional<double> previous_lsn_;
};

}  // namespace

std::unique_ptr<SqlProbe> make_archiver_probe() {
  return std::make_unique<ArchiverProbe>();
}

}  // namespace pgvigil
