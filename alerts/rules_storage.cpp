// Storage: filesystems, backups, the data directory's lock file, corruption,
// transaction ID wraparound and dead rows (alerts/tests/storage.yml).
#include <algorithm>

#include <limits>

#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"
#include "alerts/template.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

// The largest databases and the WAL directory: what fills a data disk.
std::string disk_usage_evidence(const RuleContext& ctx) {
  auto sizes = ctx.source.samples(ctx.target.name, "pg_database_size_bytes");
  std::sort(sizes.begin(), sizes.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text = "largest databases:\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(sizes.size(), 5); ++i)
    text += "  " + label_value(sizes[i].first, "datname") + " " + humanize_1024(sizes[i].second) +
            "B\n";
  if (sizes.empty()) text += "  (database sizes not known)\n";
  for (const auto& [labels, value] :
       ctx.source.samples(ctx.target.name, "pg_wal_directory_size_bytes"))
    text += "pg_wal: " + humanize_1024(value) + "B\n";
  return text;
}

}  // namespace

std::vector<RuleDefinition> storage_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PostgresDiskSpaceLow",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "warning",
                      .default_value = 0.7,
                      .unit = Unit::ratio,
                      .meaning = "used share for the warning alert"},
                     {.key = "critical",
                      .default_value = 0.9,
                      .unit = Unit::ratio,
                      .meaning = "used share for the critical alert"},
                     {.key = "critical_bytes",
                      .default_value = 10.0 * 1024 * 1024 * 1024,
                      .unit = Unit::bytes,
                      .meaning = "available bytes below which the alert is critical"}},
      .summary = "{{ $labels.role }} filesystem of {{ $labels.target }} is running out of space",
      .description =
          "The {{ $labels.role }} filesystem {{ $labels.mountpoint }} ({{ $labels.path }}) of "
          "{{ $labels.target }} is low on space: warning above ${warning} used, critical above "
          "${critical} used or below ${critical_bytes} available.",
      .condition = "pg_filesystem_used_ratio > warning (warning); > critical or "
                   "pg_filesystem_avail_bytes < critical_bytes (critical)",
      .rule_labels = "path, mountpoint, role",
      .evidence_keys = {"slots.inactive"},
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = above(ctx, "pg_filesystem_used_ratio", ctx.params.get("warning"), "warning");
            auto critical =
                above(ctx, "pg_filesystem_used_ratio", ctx.params.get("critical"), "critical");
            const double min_bytes = ctx.params.get("critical_bytes");
            for (auto& low : each_sample(
                     ctx, "pg_filesystem_avail_bytes",
                     [min_bytes](double v) { return v < min_bytes; }, "critical")) {
              const auto key = fingerprint(low.labels);
              if (std::none_of(critical.begin(), critical.end(),
                               [&](const Finding& f) { return fingerprint(f.labels) == key; }))
                critical.push_back(std::move(low));
            }
            out.insert(out.end(), critical.begin(), critical.end());
            const auto evidence = disk_usage_evidence(ctx);
            for (auto& finding : out) finding.evidence = evidence;
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto used = p.select("pg_filesystem_used_ratio");
            return std::vector<PromAlert>{
                {.expr = used + " > " + number(p.params.get("warning")), .severity = "warning"},
                {.expr = "(" + used + " > " + number(p.params.get("critical")) + ") or (" +
                         p.select("pg_filesystem_avail_bytes") + " < " +
                         number(p.params.get("critical_bytes")) + ")",
                 .severity = "critical"}};
          },
  });

  rules.push_back({
      .name = "PostgresDiskWillFill",
      .severity = "warning",
      .default_for = 10min,
      .thresholds = {{.key = "threshold",
                      .default_value = 4 * 3600,
                      .unit = Unit::seconds,
                      .meaning = "forecast time left before the filesystem is full"}},
      .summary = "{{ $labels.role }} filesystem of {{ $labels.target }} fills in "
                 "{{ $value | humanizeDuration }}",
      .description =
          "At the current trend the {{ $labels.role }} filesystem {{ $labels.mountpoint }} of "
          "{{ $labels.target }} is full in {{ $value | humanizeDuration }} (warning below "
          "${threshold}).",
      .condition = "pg_filesystem_predicted_full_timestamp_seconds - now < threshold",
      .rule_labels = "path, mountpoint, role",
      .evidence_keys = {"slots.inactive"},
      .evaluate =
          [](const RuleContext& ctx) {
            const double now = unix_seconds(ctx.now());
            const double threshold = ctx.params.get("threshold");
            double first_due = std::numeric_limits<double>::infinity();
            auto out =
                each_sample(ctx, "pg_filesystem_predicted_full_timestamp_seconds", [&](double v) {
                  first_due = std::min(first_due, v - threshold);
                  return v - now < threshold;
                });
            for (auto& finding : out) finding.value -= now;
            // No forecast within the threshold: the same forecasts cross it
            // at the earliest one's time (an infinite forecast never).
            if (out.empty()) ctx.settled(from_unix_seconds(first_due));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_filesystem_predicted_full_timestamp_seconds") +
                         " - time()) < " + number(p.params.get("threshold"))}};
          },
  });

  rules.push_back({
      .name = "PostgresBackupStale",
      .severity = "critical",
      .default_for = 5min,
      .summary = "Backups of {{ $labels.target }} are stale ({{ $labels.glob }})",
      .description =
          "The newest file matching {{ $labels.glob }} for {{ $labels.target }} is missing, older "
          "than its max_age or smaller than its min_size.",
      .condition = "pg_backup_stale == 1 (max_age per [[target.backup]], default 24h)",
      .rule_labels = "glob",
      .evidence_keys = {"backups.newest"},
      .evaluate = eval_equals("pg_backup_stale", 1),
      .prometheus = prom_equals("pg_backup_stale", 1),
  });

  rules.push_back({
      .name = "PostgresStaleLockFile",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Stale postmaster.pid in the data directory of {{ $labels.target }}",
      .description =
          "postmaster.pid of {{ $labels.target }} names a process that is not running: "
          "PostgreSQL crashed or was killed, and a restart may refuse to start until it is "
          "checked.",
      .condition = "pg_datadir_stale_pidfile == 1",
      .rule_labels = "-",
      .evidence_keys = {"datadir.pidfile", "logs.last.lock_file"},
      .evaluate = eval_equals("pg_datadir_stale_pidfile", 1),
      .prometheus = prom_equals("pg_datadir_stale_pidfile", 1),
  });

  rules.push_back({
      .name = "PostgresCorruption",
      .severity = "critical",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 900,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the last new sign"}},
      .summary = "Signs of data corruption on {{ $labels.target }}",
      .description =
          "{{ $labels.target }} logged a corruption message or counted data checksum failures "
          "({{ $labels.datname }}) within the last ${window}.",
      .condition =
          "a new corruption-class log message or rising pg_stat_database_checksum_failures",
      .rule_labels = "class=corruption (log) or datname (checksums)",
      .evidence_keys = {"logs.last.corruption"},
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = log_class_rose(ctx, "corruption");
            auto checksums = rose_findings(ctx, "pg_stat_database_checksum_failures");
            out.insert(out.end(), checksums.begin(), checksums.end());
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + log_class_rose_expr(p, "corruption") + ") or (" +
                         rose_expr(p, "pg_stat_database_checksum_failures") + ")"}};
          },
  });

  rules.push_back({
      .name = "PostgresXidWraparound",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "warning",
                      .default_value = 0.5,
                      .unit = Unit::ratio,
                      .meaning = "transaction ID age as a share of 2^31 (warning)"},
                     {.key = "critical",
                      .default_value = 0.75,
                      .unit = Unit::ratio,
                      .meaning = "transaction ID age as a share of 2^31 (critical)"}},
      .summary = "Database {{ $labels.datname }} on {{ $labels.target }} is at "
                 "{{ $value | humanizePercentage }} of transaction ID wraparound",
      .description =
          "The oldest unfrozen transaction ID of {{ $labels.datname }} on {{ $labels.target }} is "
          "{{ $value | humanizePercentage }} of the way to the wraparound limit (warning above "
          "${warning}, critical above ${critical}); PostgreSQL stops accepting writes at the "
          "limit.",
      .condition = "pg_database_wraparound_fraction > warning (warning), > critical (critical)",
      .rule_labels = "datname",
      .evidence_keys = {"vacuum.top_dead"},
      .evaluate =
          [](const RuleContext& ctx) { return severities(ctx, "pg_database_wraparound_fraction"); },
      .prometheus =
          [](const PromContext& p) {
            return prom_severities(p, "pg_database_wraparound_fraction");
          },
  });

  rules.push_back({
      .name = "PostgresDeadTuples",
      .severity = "warning",
      .default_for = 15min,
      .thresholds = {{.key = "ratio",
                      .default_value = 0.2,
                      .unit = Unit::ratio,
                      .meaning = "dead rows / (live + dead rows) of a table"},
                     {.key = "autovacuum_age",
                      .default_value = 86400,
                      .unit = Unit::seconds,
                      .meaning = "time since the table's last autovacuum"}},
      .summary = "Table {{ $labels.schemaname }}.{{ $labels.relname }} on {{ $labels.target }} is "
                 "{{ $value | humanizePercentage }} dead rows",
      .description =
          "{{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} on "
          "{{ $labels.target }} has {{ $value | humanizePercentage }} dead rows (limit ${ratio}) "
          "and autovacuum has not processed it for ${autovacuum_age}.",
      .condition =
          "pg_stat_user_tables_dead_tuple_ratio > ratio and no autovacuum within autovacuum_age",
      .rule_labels = "datname, schemaname, relname",
      .evidence_keys = {"vacuum.top_dead"},
      .evaluate =
          [](const RuleContext& ctx) {
            const double now = unix_seconds(ctx.now());
            const auto vacuumed =
                ctx.source.samples(ctx.target.name, "pg_stat_user_tables_last_autovacuum");
            const double max_age = ctx.params.get("autovacuum_age");
            Findings out;
            auto candidates =
                above(ctx, "pg_stat_user_tables_dead_tuple_ratio", ctx.params.get("ratio"));
            // No table over the ratio: time alone changes nothing.
            if (candidates.empty()) ctx.settled(Clock::time_point::max());
            for (auto& finding : candidates)
              if (!any_series(vacuumed, finding.labels,
                              [&](double last) { return now - last < max_age; }))
                out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_stat_user_tables_dead_tuple_ratio") + " > " +
                         number(p.params.get("ratio")) + ") unless (time() - " +
                         p.select("pg_stat_user_tables_last_autovacuum") + " < " +
                         number(p.params.get("autovacuum_age")) + ")"}};
          },
  });

  rules.push_back({
      .name = "PostgresTableBloat",
      .severity = "warning",
      .default_for = 1h,
      .thresholds = {{.key = "ratio",
                      .default_value = 0.5,
                      .unit = Unit::ratio,
                      .meaning = "estimated bloat as a share of the table's pages"},
                     {.key = "min_bytes",
                      .default_value = 1073741824,
                      .unit = Unit::bytes,
                      .meaning = "estimated bloat below this never alerts"}},
      .summary = "Table {{ $labels.schemaname }}.{{ $labels.relname }} on {{ $labels.target }} is "
                 "{{ $value | humanizePercentage }} bloat",
      .description =
          "{{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} on "
          "{{ $labels.target }} is estimated at {{ $value | humanizePercentage }} bloat (limit "
          "${ratio}), more than ${min_bytes} the rows do not need.",
      .condition = "pg_table_bloat_ratio > ratio and pg_table_bloat_bytes > min_bytes",
      .rule_labels = "datname, schemaname, relname",
      .evidence_keys = {"indexes.bloat", "vacuum.top_dead"},
      .evaluate =
          [](const RuleContext& ctx) {
            const auto bytes = ctx.source.samples(ctx.target.name, "pg_table_bloat_bytes");
            const double min_bytes = ctx.params.get("min_bytes");
            Findings out;
            for (auto& finding : above(ctx, "pg_table_bloat_ratio", ctx.params.get("ratio")))
              if (any_series(bytes, finding.labels,
                             [&](double value) { return value > min_bytes; }))
                out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{{.expr = "(" + p.select("pg_table_bloat_ratio") + " > " +
                                                   number(p.params.get("ratio")) + ") and (" +
                                                   p.select("pg_table_bloat_bytes") + " > " +
                                                   number(p.params.get("min_bytes")) + ")"}};
          },
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
