// Detections: restarts and crashes, the data directory and filesystem of the
// host, configuration and workload, the cluster's identity
// (alerts/tests/detections.yml).
#include <fmt/format.h>

#include <algorithm>

#include <cmath>
#include <limits>

#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

// Postmaster restarts seen within `window`. The liveness state counts every
// change of the start time between two connections
// (pg_postmaster_restarts_total), so a restart between two evaluations is not
// lost; each rise is remembered with the time it was seen, and the count
// survives the gaps while the server is down.
int restarts_within(const RuleContext& ctx, double window) {
  const double now = unix_seconds(ctx.now());
  auto& memory = ctx.memory;
  for (const auto& [labels, total] :
       ctx.source.samples(ctx.target.name, "pg_postmaster_restarts_total")) {
    if (!std::isfinite(total)) continue;
    // pgvigil's own counter starts at 0 with the target, so 0 is the baseline.
    auto last = memory.find("total");
    const double previous = last == memory.end() ? 0 : last->second;
    if (total > previous) {
      const auto rises = std::min(total - previous, 100.0);
      for (int i = 0; i < static_cast<int>(rises); ++i)
        memory["seen\x1f" + std::to_string(static_cast<long long>(memory["next"]++))] = now;
    }
    memory["total"] = total;
  }
  int count = 0;
  double first_expiry = std::numeric_limits<double>::infinity();
  for (auto it = memory.lower_bound("seen\x1f");
       it != memory.end() && it->first.starts_with("seen\x1f");) {
    if (now - it->second > window) {
      it = memory.erase(it);
    } else {
      ++count;
      first_expiry = std::min(first_expiry, it->second + window);
      ++it;
    }
  }
  // With the same total, only a remembered restart leaving the window
  // changes the count.
  ctx.settled(from_unix_seconds(first_expiry));
  return count;
}

// Free inodes as a share of all inodes, per filesystem series. Filesystems
// that report no inode count (btrfs, some network filesystems) are left out.
Findings inode_findings(const RuleContext& ctx, double below, std::string severity) {
  Findings out;
  const auto free_inodes = ctx.source.samples(ctx.target.name, "pg_filesystem_files_free");
  for (const auto& [labels, files] : ctx.source.samples(ctx.target.name, "pg_filesystem_files")) {
    if (!(files > 0)) continue;
    const auto key = fingerprint(labels);
    for (const auto& [free_labels, free_count] : free_inodes) {
      if (fingerprint(free_labels) != key || !std::isfinite(free_count)) continue;
      const double ratio = free_count / files;
      if (ratio >= below) continue;
      Finding finding;
      finding.labels = labels;
      finding.value = ratio;
      finding.severity = severity;
      finding.evidence =
          fmt::format("{} of {} inodes free on {} ({})\n", free_count, files,
                      label_value(labels, "mountpoint"), label_value(labels, "path"));
      out.push_back(std::move(finding));
    }
  }
  return out;
}

}  // namespace

std::vector<RuleDefinition> detections_rules() {
  std::vector<RuleDefinition> rules;

  // --- Restarts and crashes -------------------------------------------------

  rules.push_back({
      .name = "PostgresRestarted",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 900,
                      .unit = Unit::seconds,
                      .meaning = "how long a restart counts (and the alert stays)"},
                     {.key = "critical",
                      .default_value = 3,
                      .unit = Unit::count,
                      .meaning = "restarts within window for the critical alert (crash loop)"}},
      .summary = "{{ $labels.target }} restarted {{ $value }} time(s) within ${window}",
      .description =
          "The postmaster of {{ $labels.target }} started anew {{ $value }} time(s) within the "
          "last ${window} (pg_postmaster_start_time_seconds moved): a stop and start, a container "
          "or pod restart, an OOM kill of the postmaster. ${critical} or more is a crash loop "
          "(critical).",
      .condition = "the postmaster start time changed within window (daemon: "
                   "pg_postmaster_restarts_total rose; Prometheus: "
                   "changes(pg_postmaster_start_time_seconds[window])) > 0 (warning), >= critical "
                   "(critical)",
      .rule_labels = "-",
      .evidence_keys = {"server.restart", "logs.last.crash", "logs.last.panic", "logs.last.fatal",
                        "datadir.pidfile"},
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const int restarts = restarts_within(ctx, ctx.params.get("window"));
            if (restarts == 0) return out;
            Finding finding;
            finding.value = restarts;
            finding.severity = "warning";
            finding.evidence = "restarts within " +
                               format_threshold(ctx.params.get("window"), Unit::seconds) + ": " +
                               std::to_string(restarts) + "\n";
            out.push_back(finding);
            if (restarts >= ctx.params.get("critical")) {
              finding.severity = "critical";
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto changes = "changes(" + p.select("pg_postmaster_start_time_seconds") + "[" +
                                 format_threshold(p.params.get("window"), Unit::seconds) + "])";
            return std::vector<PromAlert>{
                {.expr = changes + " > 0", .severity = "warning"},
                {.expr = changes + " >= " + number(p.params.get("critical")),
                 .severity = "critical"}};
          },
  });

  rules.push_back({
      .name = "PostgresCrashed",
      .severity = "critical",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 900,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the last crash message"}},
      .summary = "A server process of {{ $labels.target }} crashed",
      .description =
          "{{ $labels.target }} logged within the last ${window} that a server process died "
          "abnormally (killed by a signal: kill -9, the OOM killer, a segfault); PostgreSQL "
          "terminated every session and ran crash recovery.",
      .condition = "a new crash-class log message (pg_log_messages_total{class=\"crash\"} rose) "
                   "within window",
      .rule_labels = "class",
      .evidence_keys = {"logs.last.crash", "logs.last.out_of_memory"},
      .evaluate = [](const RuleContext& ctx) { return log_class_rose(ctx, "crash"); },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{{.expr = log_class_rose_expr(p, "crash")}};
          },
  });

  // --- Host: data directory and filesystem -----------------------------------

  rules.push_back({
      .name = "PostgresDataDirectoryPermissions",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Data directory of {{ $labels.target }} has the wrong owner or mode",
      .description =
          "The data directory of {{ $labels.target }} does not belong to the cluster's owner or "
          "its mode is not 0700/0750: PostgreSQL refuses to start on it (\"has wrong ownership\" "
          "or \"has invalid permissions\"), so the next restart fails.",
      .condition = "pg_datadir_ownership_ok == 0",
      .rule_labels = "-",
      .evidence_keys = {"datadir.ownership", "logs.last.wrong_ownership"},
      .evaluate = eval_equals("pg_datadir_ownership_ok", 0),
      .prometheus = prom_equals("pg_datadir_ownership_ok", 0),
  });

  rules.push_back({
      .name = "PostgresInodesLow",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "warning",
                      .default_value = 0.1,
                      .unit = Unit::ratio,
                      .meaning = "free inodes as a share of all inodes (warning below)"},
                     {.key = "critical",
                      .default_value = 0.05,
                      .unit = Unit::ratio,
                      .meaning = "free inodes as a share of all inodes (critical below)"}},
      .summary = "{{ $labels.role }} filesystem of {{ $labels.target }} is running out of inodes",
      .description =
          "Only {{ $value | humanizePercentage }} of the inodes of the {{ $labels.role }} "
          "filesystem {{ $labels.mountpoint }} ({{ $labels.path }}) of {{ $labels.target }} are "
          "free (warning below ${warning}, critical below ${critical}); with none left PostgreSQL "
          "cannot create files and fails with \"No space left on device\" although df shows "
          "space.",
      .condition = "pg_filesystem_files_free / pg_filesystem_files < warning (warning), < critical "
                   "(critical)",
      .rule_labels = "path, mountpoint, role",
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = inode_findings(ctx, ctx.params.get("warning"), "warning");
            auto critical = inode_findings(ctx, ctx.params.get("critical"), "critical");
            out.insert(out.end(), critical.begin(), critical.end());
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto ratio = "(" + p.select("pg_filesystem_files_free") + " / " +
                               p.select("pg_filesystem_files") + ")";
            const auto known = " and " + p.select("pg_filesystem_files") + " > 0";
            return std::vector<PromAlert>{
                {.expr = ratio + " < " + number(p.params.get("warning")) + known,
                 .severity = "warning"},
                {.expr = ratio + " < " + number(p.params.get("critical")) + known,
                 .severity = "critical"}};
          },
  });

  // --- Configuration and workload ---------------------------------------------

  rules.push_back({
      .name = "PostgresPendingRestart",
      .severity = "warning",
      .default_for = 1h,
      .summary = "{{ $labels.target }} has {{ $value }} setting(s) waiting for a restart",
      .description =
          "{{ $value }} changed setting(s) of {{ $labels.target }} only take effect at the next "
          "restart (pg_settings.pending_restart): the running server does not use the "
          "configuration on disk, and an unplanned restart will apply it, or fail on it.",
      .condition = "pg_settings_pending_restart_count > 0",
      .rule_labels = "-",
      .evidence_keys = {"settings.pending_restart"},
      .evaluate =
          [](const RuleContext& ctx) { return above(ctx, "pg_settings_pending_restart_count", 0); },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = p.select("pg_settings_pending_restart_count") + " > 0"}};
          },
  });

  rules.push_back({
      .name = "PostgresDeadlocks",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the last deadlock"}},
      .summary = "Deadlocks in database {{ $labels.datname }} on {{ $labels.target }}",
      .description =
          "PostgreSQL detected deadlocks in {{ $labels.datname }} on {{ $labels.target }} within "
          "the last ${window} and aborted one transaction of each (SQLSTATE 40P01).",
      .condition = "pg_stat_database_deadlocks rose within window",
      .rule_labels = "datid, datname",
      .evidence_keys = {"logs.last.deadlock", "activity.blocking_chain"},
      .evaluate = eval_rose("pg_stat_database_deadlocks"),
      .prometheus = prom_rose("pg_stat_database_deadlocks"),
  });

  rules.push_back({
      .name = "PostgresOutOfMemory",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 900,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the last message"}},
      .summary = "{{ $labels.target }} ran out of memory",
      .description =
          "{{ $labels.target }} logged out-of-memory errors within the last ${window}: a query, "
          "autovacuum or a connection could not allocate memory and failed.",
      .condition = "a new out_of_memory-class log message "
                   "(pg_log_messages_total{class=\"out_of_memory\"} rose) within window",
      .rule_labels = "class",
      .evidence_keys = {"logs.last.out_of_memory"},
      .evaluate = [](const RuleContext& ctx) { return log_class_rose(ctx, "out_of_memory"); },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{{.expr = log_class_rose_expr(p, "out_of_memory")}};
          },
  });

  // --- Identity ----------------------------------------------------------------

  rules.push_back({
      .name = "PostgresSystemIdentifierChanged",
      .severity = "critical",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 3600,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the change"}},
      .summary = "Another PostgreSQL cluster answers as {{ $labels.target }}",
      .description =
          "The database system identifier of {{ $labels.target }} changed within the last "
          "${window}: the data directory was replaced (a lost volume, a re-initdb, a recreated "
          "container), the address points at another server, or the cluster was upgraded with "
          "pg_upgrade.",
      .condition = "pg_system_identifier_changes_total rose within window",
      .rule_labels = "-",
      .evidence_keys = {"server.system_identifier"},
      .evaluate = eval_rose("pg_system_identifier_changes_total"),
      .prometheus = prom_rose("pg_system_identifier_changes_total"),
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
