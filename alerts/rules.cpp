#include "alerts/rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "alerts/labels.hpp"
#include "alerts/template.hpp"
#include "config/names.hpp"

namespace pgvigil::alerts {

using namespace std::chrono_literals;
using Findings = std::vector<Finding>;

std::string runbook_url(std::string_view base, std::string_view alertname) {
  std::string url(base);
  if (!url.ends_with('/')) url += '/';
  return url + std::string(alertname) + ".md";
}

double RuleParams::get(std::string_view key) const {
  auto it = thresholds.find(key);
  return it == thresholds.end() ? 0.0 : it->second;
}

std::string PromContext::select(std::string_view metric, std::string_view matchers) const {
  std::string inner(matchers);
  if (!target_matcher.empty()) {
    if (!inner.empty()) inner += ',';
    inner += target_matcher;
  }
  if (inner.empty()) return std::string(metric);
  return std::string(metric) + '{' + inner + '}';
}

namespace {

// A number as PromQL and people read it: shortest exact form.
std::string number(double value) {
  return fmt::format("{}", value);
}

// One finding for every sample of `metric` whose value passes `test`.
template <class Test>
Findings each_sample(const RuleContext& ctx, std::string_view metric, Test test,
                     std::string severity = {}) {
  Findings out;
  for (auto& [labels, value] : ctx.source.samples(ctx.target.name, metric)) {
    if (!std::isfinite(value) || !test(value)) continue;
    Finding finding;
    finding.labels = labels;
    finding.value = value;
    finding.severity = severity;
    out.push_back(std::move(finding));
  }
  return out;
}

Findings above(const RuleContext& ctx, std::string_view metric, double threshold,
               std::string severity = {}) {
  return each_sample(
      ctx, metric, [threshold](double v) { return v > threshold; }, std::move(severity));
}

// The label of the current state of a state set (the series whose value is 1).
std::optional<std::string> current_state(const RuleContext& ctx, std::string_view metric,
                                         std::string_view state_label) {
  for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, metric))
    if (value == 1) return label_value(labels, state_label);
  return std::nullopt;
}

// True while a counter rose within the last `window` seconds. The first value
// seen is a baseline, like Prometheus' increase() over a range starting there.
bool rose_within(const RuleContext& ctx, const std::string& series, double value, double window) {
  const double now =
      std::chrono::duration<double>(ctx.now.time_since_epoch()).count();  // unix seconds
  auto& memory = ctx.memory;
  if (memory.size() > 20'000) memory.clear();  // bound: departed series leave keys behind
  const std::string value_key = "value\x1f" + series;
  const std::string rose_key = "rose\x1f" + series;
  auto previous = memory.find(value_key);
  if (previous != memory.end() && value > previous->second) memory[rose_key] = now;
  memory[value_key] = value;
  auto rose = memory.find(rose_key);
  return rose != memory.end() && now - rose->second <= window;
}

// A rule that fires while one metric is above one threshold: its evaluation in
// the daemon and its PromQL, from the same metric and threshold key.
std::function<Findings(const RuleContext&)> eval_above(std::string metric, std::string key) {
  return [metric = std::move(metric), key = std::move(key)](const RuleContext& ctx) {
    return above(ctx, metric, ctx.params.get(key));
  };
}

std::function<std::vector<PromAlert>(const PromContext&)> prom_above(std::string metric,
                                                                     std::string key) {
  return [metric = std::move(metric), key = std::move(key)](const PromContext& p) {
    return std::vector<PromAlert>{
        {p.select(metric) + " > " + number(p.params.get(key)), {}, {}, {}}};
  };
}

// A rule that fires while a counter has risen within the "window" threshold:
// its evaluation in the daemon (remembering each series' last value) and its
// PromQL increase(), from the same metric.
std::function<Findings(const RuleContext&)> eval_rose(std::string metric) {
  return [metric = std::move(metric)](const RuleContext& ctx) {
    Findings out;
    for (auto& [labels, value] : ctx.source.samples(ctx.target.name, metric)) {
      if (!rose_within(ctx, metric + fingerprint(labels), value, ctx.params.get("window")))
        continue;
      Finding finding;
      finding.labels = labels;
      finding.value = value;
      out.push_back(std::move(finding));
    }
    return out;
  };
}

std::function<std::vector<PromAlert>(const PromContext&)> prom_rose(std::string metric) {
  return [metric = std::move(metric)](const PromContext& p) {
    return std::vector<PromAlert>{{"increase(" + p.select(metric) + "[" +
                                       format_threshold(p.params.get("window"), Unit::seconds) +
                                       "]) > 0",
                                   {},
                                   {},
                                   {}}};
  };
}

Findings severities(const RuleContext& ctx, std::string_view metric) {
  auto out = above(ctx, metric, ctx.params.get("warning"), "warning");
  auto critical = above(ctx, metric, ctx.params.get("critical"), "critical");
  out.insert(out.end(), critical.begin(), critical.end());
  return out;
}

std::vector<PromAlert> prom_severities(const PromContext& p, std::string_view metric) {
  return {{p.select(metric) + " > " + number(p.params.get("warning")), "warning", {}, {}},
          {p.select(metric) + " > " + number(p.params.get("critical")), "critical", {}, {}}};
}

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

// --- Helpers of the restart, crash, inode and log-class rules ---------------

// Whether messages of one log class arrived within `window`: a finding with
// the class label, or nothing. Sums the class over every severity.
std::optional<Finding> log_class_rose(const RuleContext& ctx, std::string_view klass,
                                      double window) {
  double messages = 0;
  bool have_log = false;
  for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "pg_log_messages_total"))
    if (label_value(labels, "class") == klass) {
      messages += value;
      have_log = true;
    }
  if (!have_log || !rose_within(ctx, "log\x1f" + std::string(klass), messages, window))
    return std::nullopt;
  Finding finding;
  finding.labels = {{"class", std::string(klass)}};
  finding.value = messages;
  return finding;
}

// Postmaster restarts seen within `window`. The liveness state counts every
// change of the start time between two connections
// (pg_postmaster_restarts_total), so a restart between two evaluations is not
// lost; each rise is remembered with the time it was seen, and the count
// survives the gaps while the server is down.
int restarts_within(const RuleContext& ctx, double window) {
  const double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();
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
  for (auto it = memory.lower_bound("seen\x1f");
       it != memory.end() && it->first.starts_with("seen\x1f");) {
    if (now - it->second > window) {
      it = memory.erase(it);
    } else {
      ++count;
      ++it;
    }
  }
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

std::vector<RuleDefinition> build_table() {
  std::vector<RuleDefinition> rules;

  rules.push_back(
      {"PostgresDown",
       "critical",
       30s,
       {},
       "PostgreSQL {{ $labels.target }} is down ({{ $labels.reason }})",
       "pgvigil cannot connect to {{ $labels.target }} and run a trivial query; the connection "
       "fails with reason {{ $labels.reason }}.",
       "pg_up == 0, with the classified connection failure",
       "reason",
       {"logs.last.panic", "logs.last.fatal", "datadir.pidfile"},
       [](const RuleContext& ctx) {
         Findings out;
         for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "pg_up")) {
           if (value != 0) continue;
           Finding finding;
           auto reason = current_state(ctx, "pg_connection_failure", "reason");
           if (reason && *reason != "none") finding.labels.emplace_back("reason", *reason);
           finding.evidence = "reason: " + reason.value_or(ctx.target.reason) +
                              "\nlast connection error: " +
                              (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) + "\n";
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         const auto down = "(" + p.select("pg_up") + " == 0)";
         return std::vector<PromAlert>{{down + " * ignoring(reason) group_left(reason) (" +
                                            p.select("pg_connection_failure", "reason!=\"none\"") +
                                            " == 1) or ignoring(reason) " + down,
                                        {},
                                        {},
                                        {}}};
       }});

  rules.push_back(
      {"PostgresDatabaseMissing",
       "critical",
       1min,
       {},
       "Database missing on {{ $labels.target }}",
       "An expected database ({{ $labels.datname }}) is gone from {{ $labels.target }}, or "
       "connections fail because the database does not exist (reason {{ $labels.reason }}).",
       "pg_database_exists == 0 (expected_databases), or connections fail with database_missing",
       "datname or reason",
       {"logs.last.database_missing"},
       [](const RuleContext& ctx) {
         auto out = each_sample(ctx, "pg_database_exists", [](double v) { return v == 0; });
         if (current_state(ctx, "pg_connection_failure", "reason") == "database_missing") {
           Finding finding;
           finding.labels = {{"reason", "database_missing"}};
           finding.value = 1;
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"(" + p.select("pg_database_exists") + " == 0) or (" +
                  p.select("pg_connection_failure", "reason=\"database_missing\"") + " == 1)",
              {},
              {},
              {}}};
       }});

  rules.push_back(
      {"PostgresTooManyConnections",
       "warning",
       2min,
       {{"warning", 0.8, Unit::ratio,
         "share of max_connections - reserved slots in use (exclusive)"}},
       "{{ $labels.target }} uses {{ $value | humanizePercentage }} of its connections",
       "Client connections on {{ $labels.target }} take {{ $value | humanizePercentage }} of the "
       "slots ordinary roles may use (limit ${warning}).",
       "pg_connections_utilization_ratio > warning",
       "-",
       {"activity.top_sessions"},
       eval_above("pg_connections_utilization_ratio", "warning"),
       prom_above("pg_connections_utilization_ratio", "warning")});

  rules.push_back(
      {"PostgresConnectionsExhausted",
       "critical",
       30s,
       {{"critical", 1.0, Unit::ratio, "share of usable connection slots in use (inclusive)"}},
       "{{ $labels.target }} has no connection slots left",
       "Connections on {{ $labels.target }} are at or above ${critical} of the usable slots, or "
       "new connections fail with too_many_clients.",
       "pg_connections_utilization_ratio >= critical, or connections fail with too_many_clients",
       "reason (when from a connection failure)",
       {"activity.top_sessions", "logs.last.too_many_clients"},
       [](const RuleContext& ctx) {
         const double critical = ctx.params.get("critical");
         auto out = each_sample(ctx, "pg_connections_utilization_ratio",
                                [critical](double v) { return v >= critical; });
         if (current_state(ctx, "pg_connection_failure", "reason") == "too_many_clients") {
           Finding finding;
           finding.labels = {{"reason", "too_many_clients"}};
           finding.value = 1;
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"(" + p.select("pg_connections_utilization_ratio") +
                  " >= " + number(p.params.get("critical")) + ") or (" +
                  p.select("pg_connection_failure", "reason=\"too_many_clients\"") + " == 1)",
              {},
              {},
              {}}};
       }});

  rules.push_back(
      {"PostgresIdleInTransaction",
       "warning",
       0s,
       {{"threshold", 300, Unit::seconds, "age of the oldest idle-in-transaction session"}},
       "A session on {{ $labels.target }} is idle in transaction for {{ $value | humanizeDuration "
       "}}",
       "The oldest idle-in-transaction session on {{ $labels.target }} has been idle for "
       "{{ $value | humanizeDuration }} (limit ${threshold}); it holds locks and blocks vacuum.",
       "pg_stat_activity_oldest_idle_in_transaction_seconds > threshold",
       "-",
       {"activity.idle_in_transaction"},
       eval_above("pg_stat_activity_oldest_idle_in_transaction_seconds", "threshold"),
       prom_above("pg_stat_activity_oldest_idle_in_transaction_seconds", "threshold")});

  rules.push_back({"PostgresLongRunningQuery",
                   "warning",
                   0s,
                   {{"threshold", 300, Unit::seconds, "run time of the longest active statement"}},
                   "A query on {{ $labels.target }} runs for {{ $value | humanizeDuration }}",
                   "The longest active statement on {{ $labels.target }} has run for "
                   "{{ $value | humanizeDuration }} (limit ${threshold}).",
                   "pg_stat_activity_longest_query_seconds > threshold",
                   "-",
                   {"activity.top_sessions"},
                   eval_above("pg_stat_activity_longest_query_seconds", "threshold"),
                   prom_above("pg_stat_activity_longest_query_seconds", "threshold")});

  rules.push_back(
      {"PostgresLockContention",
       "warning",
       0s,
       {{"threshold", 60, Unit::seconds, "longest wait for a heavyweight lock"}},
       "A session on {{ $labels.target }} waits {{ $value | humanizeDuration }} for a lock",
       "A session on {{ $labels.target }} has been blocked on a lock for "
       "{{ $value | humanizeDuration }} (limit ${threshold}).",
       "pg_stat_activity_longest_lock_wait_seconds > threshold",
       "-",
       {"activity.blocking_chain"},
       eval_above("pg_stat_activity_longest_lock_wait_seconds", "threshold"),
       prom_above("pg_stat_activity_longest_lock_wait_seconds", "threshold")});

  rules.push_back(
      {"PostgresReplicationLag",
       "warning",
       1min,
       {{"warning", 5, Unit::seconds, "replay lag for the warning alert"},
        {"critical", 300, Unit::seconds, "replay lag for the critical alert"}},
       "Replication lag on {{ $labels.target }} is {{ $value | humanizeDuration }}",
       "Replay lag on {{ $labels.target }} is {{ $value | humanizeDuration }} (warning above "
       "${warning}, critical above ${critical}).",
       "standby: pg_replication_lag_seconds; primary: pg_stat_replication_replay_delay_seconds; "
       "> warning (warning), > critical (critical)",
       "application_name, client_addr, slot_name, state (primary side)",
       {"replication.standbys", "replication.receiver"},
       [](const RuleContext& ctx) {
         auto out = severities(ctx, "pg_replication_lag_seconds");
         auto primary = severities(ctx, "pg_stat_replication_replay_delay_seconds");
         out.insert(out.end(), primary.begin(), primary.end());
         return out;
       },
       [](const PromContext& p) {
         auto standby = prom_severities(p, "pg_replication_lag_seconds");
         auto primary = prom_severities(p, "pg_stat_replication_replay_delay_seconds");
         for (std::size_t i = 0; i < standby.size(); ++i)
           standby[i].expr = "(" + standby[i].expr + ") or (" + primary[i].expr + ")";
         return standby;
       }});

  rules.push_back(
      {"PostgresReplicaMissing",
       "critical",
       1min,
       {},
       "{{ $labels.target }} is missing {{ $value }} streaming replica(s)",
       "Fewer physical standbys stream from {{ $labels.target }} than expected_replicas says "
       "({{ $value }} missing).",
       "pg_replication_missing_replicas > 0 (expected_replicas set)",
       "-",
       {"replication.standbys"},
       [](const RuleContext& ctx) { return above(ctx, "pg_replication_missing_replicas", 0); },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {p.select("pg_replication_missing_replicas") + " > 0", {}, {}, {}}};
       }});

  rules.push_back(
      {"PostgresReplicationSlotInactive",
       "warning",
       10min,
       {{"bytes", 1024.0 * 1024 * 1024, Unit::bytes, "WAL an inactive slot may retain"}},
       "Inactive replication slot {{ $labels.slot_name }} on {{ $labels.target }} retains "
       "{{ $value | humanize1024 }}B of WAL",
       "Replication slot {{ $labels.slot_name }} on {{ $labels.target }} has no consumer and "
       "retains {{ $value | humanize1024 }}B of WAL (limit ${bytes}); pg_wal keeps growing until "
       "it is used or dropped.",
       "pg_replication_slots_active == 0 and pg_replication_slots_pg_wal_lsn_diff > bytes",
       "slot_name, slot_type, database",
       {"slots.inactive"},
       [](const RuleContext& ctx) {
         Findings out;
         const auto active = ctx.source.samples(ctx.target.name, "pg_replication_slots_active");
         for (auto& finding :
              above(ctx, "pg_replication_slots_pg_wal_lsn_diff", ctx.params.get("bytes"))) {
           const auto key = fingerprint(finding.labels);
           const bool inactive = std::any_of(active.begin(), active.end(), [&](const auto& a) {
             return a.second == 0 && fingerprint(a.first) == key;
           });
           if (inactive) out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{"(" + p.select("pg_replication_slots_pg_wal_lsn_diff") +
                                            " > " + number(p.params.get("bytes")) + ") and (" +
                                            p.select("pg_replication_slots_active") + " == 0)",
                                        {},
                                        {},
                                        {}}};
       }});

  rules.push_back(
      {"PostgresRoleChanged",
       "warning",
       0s,
       {{"window", 600, Unit::seconds, "how long the alert stays after the flip"}},
       "{{ $labels.target }} changed role (failover or promotion)",
       "The recovery state of {{ $labels.target }} flipped within the last ${window}: a standby "
       "was promoted or a primary became a standby.",
       "pg_role_changes_total rose within window",
       "-",
       {"replication.standbys", "replication.receiver"},
       eval_rose("pg_role_changes_total"),
       prom_rose("pg_role_changes_total")});

  rules.push_back(
      {"PostgresWalArchivingFailing",
       "critical",
       5min,
       {},
       "WAL archiving on {{ $labels.target }} is failing",
       "archive_command on {{ $labels.target }} fails, or the newest archived WAL is older than "
       "the target's RPO while WAL is being written: point-in-time recovery is at risk and "
       "pg_wal grows.",
       "pg_wal_archive_failing == 1 or pg_wal_archive_rpo_breached == 1",
       "-",
       {"archiver.last_failure"},
       [](const RuleContext& ctx) {
         auto out = each_sample(ctx, "pg_wal_archive_failing", [](double v) { return v == 1; });
         if (out.empty())
           out = each_sample(ctx, "pg_wal_archive_rpo_breached", [](double v) { return v == 1; });
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{"(" + p.select("pg_wal_archive_failing") + " == 1) or (" +
                                            p.select("pg_wal_archive_rpo_breached") + " == 1)",
                                        {},
                                        {},
                                        {}}};
       }});

  rules.push_back(
      {"PostgresDiskSpaceLow",
       "warning",
       5min,
       {{"warning", 0.7, Unit::ratio, "used share for the warning alert"},
        {"critical", 0.9, Unit::ratio, "used share for the critical alert"},
        {"critical_bytes", 10.0 * 1024 * 1024 * 1024, Unit::bytes,
         "available bytes below which the alert is critical"}},
       "{{ $labels.role }} filesystem of {{ $labels.target }} is running out of space",
       "The {{ $labels.role }} filesystem {{ $labels.mountpoint }} ({{ $labels.path }}) of "
       "{{ $labels.target }} is low on space: warning above ${warning} used, critical above "
       "${critical} used or below ${critical_bytes} available.",
       "pg_filesystem_used_ratio > warning (warning); > critical or pg_filesystem_avail_bytes < "
       "critical_bytes (critical)",
       "path, mountpoint, role",
       {"slots.inactive"},
       [](const RuleContext& ctx) {
         auto out = above(ctx, "pg_filesystem_used_ratio", ctx.params.get("warning"), "warning");
         auto critical =
             above(ctx, "pg_filesystem_used_ratio", ctx.params.get("critical"), "critical");
         const double min_bytes = ctx.params.get("critical_bytes");
         for (auto& low : each_sample(
                  ctx, "pg_filesystem_avail_bytes", [min_bytes](double v) { return v < min_bytes; },
                  "critical")) {
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
       [](const PromContext& p) {
         const auto used = p.select("pg_filesystem_used_ratio");
         return std::vector<PromAlert>{
             {used + " > " + number(p.params.get("warning")), "warning", {}, {}},
             {"(" + used + " > " + number(p.params.get("critical")) + ") or (" +
                  p.select("pg_filesystem_avail_bytes") + " < " +
                  number(p.params.get("critical_bytes")) + ")",
              "critical",
              {},
              {}}};
       }});

  rules.push_back(
      {"PostgresDiskWillFill",
       "warning",
       10min,
       {{"threshold", 4 * 3600, Unit::seconds, "forecast time left before the filesystem is full"}},
       "{{ $labels.role }} filesystem of {{ $labels.target }} fills in "
       "{{ $value | humanizeDuration }}",
       "At the current trend the {{ $labels.role }} filesystem {{ $labels.mountpoint }} of "
       "{{ $labels.target }} is full in {{ $value | humanizeDuration }} (warning below "
       "${threshold}).",
       "pg_filesystem_predicted_full_timestamp_seconds - now < threshold",
       "path, mountpoint, role",
       {"slots.inactive"},
       [](const RuleContext& ctx) {
         const double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();
         auto out = each_sample(ctx, "pg_filesystem_predicted_full_timestamp_seconds",
                                [&](double v) { return v - now < ctx.params.get("threshold"); });
         for (auto& finding : out) finding.value -= now;
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"(" + p.select("pg_filesystem_predicted_full_timestamp_seconds") + " - time()) < " +
                  number(p.params.get("threshold")),
              {},
              {},
              {}}};
       }});

  rules.push_back(
      {"PostgresBackupStale",
       "critical",
       5min,
       {},
       "Backups of {{ $labels.target }} are stale ({{ $labels.glob }})",
       "The newest file matching {{ $labels.glob }} for {{ $labels.target }} is missing, older "
       "than its max_age or smaller than its min_size.",
       "pg_backup_stale == 1 (max_age per [[target.backup]], default 24h)",
       "glob",
       {"backups.newest"},
       [](const RuleContext& ctx) {
         return each_sample(ctx, "pg_backup_stale", [](double v) { return v == 1; });
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{p.select("pg_backup_stale") + " == 1", {}, {}, {}}};
       }});

  rules.push_back(
      {"PostgresStaleLockFile",
       "critical",
       1min,
       {},
       "Stale postmaster.pid in the data directory of {{ $labels.target }}",
       "postmaster.pid of {{ $labels.target }} names a process that is not running: PostgreSQL "
       "crashed or was killed, and a restart may refuse to start until it is checked.",
       "pg_datadir_stale_pidfile == 1",
       "-",
       {"datadir.pidfile", "logs.last.lock_file"},
       [](const RuleContext& ctx) {
         return each_sample(ctx, "pg_datadir_stale_pidfile", [](double v) { return v == 1; });
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {p.select("pg_datadir_stale_pidfile") + " == 1", {}, {}, {}}};
       }});

  rules.push_back(
      {"PostgresCorruption",
       "critical",
       0s,
       {{"window", 900, Unit::seconds, "how long the alert stays after the last new sign"}},
       "Signs of data corruption on {{ $labels.target }}",
       "{{ $labels.target }} logged a corruption message or counted data checksum failures "
       "({{ $labels.datname }}) within the last ${window}.",
       "a new corruption-class log message or rising pg_stat_database_checksum_failures",
       "class=corruption (log) or datname (checksums)",
       {"logs.last.corruption"},
       [](const RuleContext& ctx) {
         Findings out;
         const double window = ctx.params.get("window");
         double corruption_messages = 0;
         bool have_log = false;
         for (const auto& [labels, value] :
              ctx.source.samples(ctx.target.name, "pg_log_messages_total"))
           if (label_value(labels, "class") == "corruption") {
             corruption_messages += value;
             have_log = true;
           }
         if (have_log && rose_within(ctx, "log", corruption_messages, window)) {
           Finding finding;
           finding.labels = {{"class", "corruption"}};
           finding.value = corruption_messages;
           out.push_back(std::move(finding));
         }
         for (auto& [labels, value] :
              ctx.source.samples(ctx.target.name, "pg_stat_database_checksum_failures")) {
           if (!rose_within(ctx, "checksums" + fingerprint(labels), value, window)) continue;
           Finding finding;
           finding.labels = labels;
           finding.value = value;
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         const auto window = format_threshold(p.params.get("window"), Unit::seconds);
         return std::vector<PromAlert>{
             {"(sum without (severity) (increase(" +
                  p.select("pg_log_messages_total", "class=\"corruption\"") + "[" + window +
                  "])) > 0) or (increase(" + p.select("pg_stat_database_checksum_failures") + "[" +
                  window + "]) > 0)",
              {},
              {},
              {}}};
       }});

  rules.push_back(
      {"PostgresXidWraparound",
       "warning",
       5min,
       {{"warning", 0.5, Unit::ratio, "transaction ID age as a share of 2^31 (warning)"},
        {"critical", 0.75, Unit::ratio, "transaction ID age as a share of 2^31 (critical)"}},
       "Database {{ $labels.datname }} on {{ $labels.target }} is at "
       "{{ $value | humanizePercentage }} of transaction ID wraparound",
       "The oldest unfrozen transaction ID of {{ $labels.datname }} on {{ $labels.target }} is "
       "{{ $value | humanizePercentage }} of the way to the wraparound limit (warning above "
       "${warning}, critical above ${critical}); PostgreSQL stops accepting writes at the limit.",
       "pg_database_wraparound_fraction > warning (warning), > critical (critical)",
       "datname",
       {"vacuum.top_dead"},
       [](const RuleContext& ctx) { return severities(ctx, "pg_database_wraparound_fraction"); },
       [](const PromContext& p) { return prom_severities(p, "pg_database_wraparound_fraction"); }});

  rules.push_back(
      {"PostgresDeadTuples",
       "warning",
       15min,
       {{"ratio", 0.2, Unit::ratio, "dead rows / (live + dead rows) of a table"},
        {"autovacuum_age", 86400, Unit::seconds, "time since the table's last autovacuum"}},
       "Table {{ $labels.schemaname }}.{{ $labels.relname }} on {{ $labels.target }} is "
       "{{ $value | humanizePercentage }} dead rows",
       "{{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} on "
       "{{ $labels.target }} has {{ $value | humanizePercentage }} dead rows (limit ${ratio}) and "
       "autovacuum has not processed it for ${autovacuum_age}.",
       "pg_stat_user_tables_dead_tuple_ratio > ratio and no autovacuum within autovacuum_age",
       "datname, schemaname, relname",
       {"vacuum.top_dead"},
       [](const RuleContext& ctx) {
         const double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();
         const auto vacuumed =
             ctx.source.samples(ctx.target.name, "pg_stat_user_tables_last_autovacuum");
         const double max_age = ctx.params.get("autovacuum_age");
         Findings out;
         for (auto& finding :
              above(ctx, "pg_stat_user_tables_dead_tuple_ratio", ctx.params.get("ratio"))) {
           const auto key = fingerprint(finding.labels);
           const bool recent = std::any_of(vacuumed.begin(), vacuumed.end(), [&](const auto& v) {
             return fingerprint(v.first) == key && now - v.second < max_age;
           });
           if (!recent) out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{"(" + p.select("pg_stat_user_tables_dead_tuple_ratio") +
                                            " > " + number(p.params.get("ratio")) +
                                            ") unless (time() - " +
                                            p.select("pg_stat_user_tables_last_autovacuum") +
                                            " < " + number(p.params.get("autovacuum_age")) + ")",
                                        {},
                                        {},
                                        {}}};
       }});

  rules.push_back(
      {"PostgresCustomCheckFailed",
       "warning",
       0s,
       {},
       "Check {{ $labels.check }} failed on {{ $labels.target }}",
       "The custom check {{ $labels.check }} on {{ $labels.target }} does not meet its "
       "expectation, or its SQL fails.",
       "pgvigil_check_ok == 0 for the check's own `for`",
       "check (severity from the check)",
       {},
       [](const RuleContext& ctx) {
         Findings out;
         for (auto& finding :
              each_sample(ctx, "pgvigil_check_ok", [](double v) { return v == 0; })) {
           const auto name = label_value(finding.labels, "check");
           finding.evidence_keys.push_back("check." + name);
           if (ctx.target.config != nullptr) {
             for (const auto& check : ctx.target.config->checks) {
               if (check.name != name) continue;
               finding.severity = check.severity;
               if (check.for_duration > config::Duration::zero())
                 finding.for_duration = check.for_duration;
             }
           }
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{p.select("pgvigil_check_ok") + " == 0", {}, {}, {}}};
       }});

  rules.push_back(
      {"PgvigilProbeFailing",
       "warning",
       0s,
       {{"threshold", 600, Unit::seconds, "time since the probe last succeeded"}},
       "Probe {{ $labels.probe }} of {{ $labels.target }} has not succeeded for "
       "{{ $value | humanizeDuration }}",
       "pgvigil reaches {{ $labels.target }}, but its {{ $labels.probe }} probe has not "
       "succeeded for {{ $value | humanizeDuration }} (limit ${threshold}): its metrics are "
       "stale and the alerts built on them are blind.",
       "target up and now - pgvigil_probe_last_success_timestamp_seconds > threshold",
       "probe",
       {},
       [](const RuleContext& ctx) {
         Findings out;
         if (!ctx.target.up) return out;
         const double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();
         for (auto& finding :
              each_sample(ctx, "pgvigil_probe_last_success_timestamp_seconds",
                          [&](double v) { return now - v > ctx.params.get("threshold"); })) {
           finding.value = now - finding.value;
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"(time() - " + p.select("pgvigil_probe_last_success_timestamp_seconds") + ") > " +
                  number(p.params.get("threshold")) + " and on(target) (" + p.select("pg_up") +
                  " == 1)",
              {},
              {},
              {}}};
       }});

  // Patroni (targets with patroni_url): the cluster as its REST API reports it.
  rules.push_back(
      {"PatroniNoLeader",
       "critical",
       30s,
       {},
       "Patroni cluster of {{ $labels.target }} has no leader",
       "No member of the Patroni cluster {{ $labels.scope }} seen through {{ $labels.target }} "
       "holds the leader key: there is no primary accepting writes and Patroni has not "
       "promoted a replacement.",
       "patroni_cluster_unlocked == 1",
       "scope (when Patroni reports it)",
       {"patroni.members"},
       [](const RuleContext& ctx) {
         return each_sample(ctx, "patroni_cluster_unlocked", [](double v) { return v == 1; });
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {p.select("patroni_cluster_unlocked") + " == 1", {}, {}, {}}};
       }});

  rules.push_back(
      {"PatroniUnreachable",
       "warning",
       1min,
       {},
       "Patroni REST API of {{ $labels.target }} does not answer",
       "pgvigil cannot get a usable GET /cluster reply from the Patroni of {{ $labels.target }}: "
       "that Patroni is down or hung, so this node takes no part in failover, and "
       "PatroniNoLeader cannot be evaluated through it.",
       "patroni_up == 0",
       "-",
       {"patroni.members"},
       [](const RuleContext& ctx) {
         return each_sample(ctx, "patroni_up", [](double v) { return v == 0; });
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{p.select("patroni_up") + " == 0", {}, {}, {}}};
       }});

  // --- Restarts and crashes -------------------------------------------------

  rules.push_back(
      {"PostgresRestarted",
       "warning",
       0s,
       {{"window", 900, Unit::seconds, "how long a restart counts (and the alert stays)"},
        {"critical", 3, Unit::count, "restarts within window for the critical alert (crash loop)"}},
       "{{ $labels.target }} restarted {{ $value }} time(s) within ${window}",
       "The postmaster of {{ $labels.target }} started anew {{ $value }} time(s) within the "
       "last ${window} (pg_postmaster_start_time_seconds moved): a stop and start, a container "
       "or pod restart, an OOM kill of the postmaster. ${critical} or more is a crash loop "
       "(critical).",
       "the postmaster start time changed within window (daemon: pg_postmaster_restarts_total "
       "rose; Prometheus: changes(pg_postmaster_start_time_seconds[window])) > 0 (warning), "
       ">= critical (critical)",
       "-",
       {"server.restart", "logs.last.crash", "logs.last.panic", "logs.last.fatal",
        "datadir.pidfile"},
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
       [](const PromContext& p) {
         const auto changes = "changes(" + p.select("pg_postmaster_start_time_seconds") + "[" +
                              format_threshold(p.params.get("window"), Unit::seconds) + "])";
         return std::vector<PromAlert>{
             {changes + " > 0", "warning", {}, {}},
             {changes + " >= " + number(p.params.get("critical")), "critical", {}, {}}};
       }});

  rules.push_back(
      {"PostgresCrashed",
       "critical",
       0s,
       {{"window", 900, Unit::seconds, "how long the alert stays after the last crash message"}},
       "A server process of {{ $labels.target }} crashed",
       "{{ $labels.target }} logged within the last ${window} that a server process died "
       "abnormally (killed by a signal: kill -9, the OOM killer, a segfault); PostgreSQL "
       "terminated every session and ran crash recovery.",
       "a new crash-class log message (pg_log_messages_total{class=\"crash\"} rose) within "
       "window",
       "class",
       {"logs.last.crash", "logs.last.out_of_memory"},
       [](const RuleContext& ctx) {
         Findings out;
         if (auto finding = log_class_rose(ctx, "crash", ctx.params.get("window")))
           out.push_back(std::move(*finding));
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"sum without (severity) (increase(" +
                  p.select("pg_log_messages_total", "class=\"crash\"") + "[" +
                  format_threshold(p.params.get("window"), Unit::seconds) + "])) > 0",
              {},
              {},
              {}}};
       }});

  // --- Host: data directory and filesystem -----------------------------------

  rules.push_back(
      {"PostgresDataDirectoryPermissions",
       "critical",
       1min,
       {},
       "Data directory of {{ $labels.target }} has the wrong owner or mode",
       "The data directory of {{ $labels.target }} does not belong to the cluster's owner or its "
       "mode is not 0700/0750: PostgreSQL refuses to start on it (\"has wrong ownership\" or "
       "\"has invalid permissions\"), so the next restart fails.",
       "pg_datadir_ownership_ok == 0",
       "-",
       {"datadir.ownership", "logs.last.wrong_ownership"},
       [](const RuleContext& ctx) {
         return each_sample(ctx, "pg_datadir_ownership_ok", [](double v) { return v == 0; });
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{{p.select("pg_datadir_ownership_ok") + " == 0", {}, {}, {}}};
       }});

  rules.push_back(
      {"PostgresInodesLow",
       "warning",
       5min,
       {{"warning", 0.1, Unit::ratio, "free inodes as a share of all inodes (warning below)"},
        {"critical", 0.05, Unit::ratio, "free inodes as a share of all inodes (critical below)"}},
       "{{ $labels.role }} filesystem of {{ $labels.target }} is running out of inodes",
       "Only {{ $value | humanizePercentage }} of the inodes of the {{ $labels.role }} "
       "filesystem {{ $labels.mountpoint }} ({{ $labels.path }}) of {{ $labels.target }} are "
       "free (warning below ${warning}, critical below ${critical}); with none left PostgreSQL "
       "cannot create files and fails with \"No space left on device\" although df shows space.",
       "pg_filesystem_files_free / pg_filesystem_files < warning (warning), < critical (critical)",
       "path, mountpoint, role",
       {},
       [](const RuleContext& ctx) {
         auto out = inode_findings(ctx, ctx.params.get("warning"), "warning");
         auto critical = inode_findings(ctx, ctx.params.get("critical"), "critical");
         out.insert(out.end(), critical.begin(), critical.end());
         return out;
       },
       [](const PromContext& p) {
         const auto ratio = "(" + p.select("pg_filesystem_files_free") + " / " +
                            p.select("pg_filesystem_files") + ")";
         const auto known = " and " + p.select("pg_filesystem_files") + " > 0";
         return std::vector<PromAlert>{
             {ratio + " < " + number(p.params.get("warning")) + known, "warning", {}, {}},
             {ratio + " < " + number(p.params.get("critical")) + known, "critical", {}, {}}};
       }});

  // --- Configuration and workload ---------------------------------------------

  rules.push_back(
      {"PostgresPendingRestart",
       "warning",
       1h,
       {},
       "{{ $labels.target }} has {{ $value }} setting(s) waiting for a restart",
       "{{ $value }} changed setting(s) of {{ $labels.target }} only take effect at the next "
       "restart (pg_settings.pending_restart): the running server does not use the configuration "
       "on disk, and an unplanned restart will apply it, or fail on it.",
       "pg_settings_pending_restart_count > 0",
       "-",
       {"settings.pending_restart"},
       [](const RuleContext& ctx) { return above(ctx, "pg_settings_pending_restart_count", 0); },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {p.select("pg_settings_pending_restart_count") + " > 0", {}, {}, {}}};
       }});

  rules.push_back(
      {"PostgresDeadlocks",
       "warning",
       0s,
       {{"window", 300, Unit::seconds, "how long the alert stays after the last deadlock"}},
       "Deadlocks in database {{ $labels.datname }} on {{ $labels.target }}",
       "PostgreSQL detected deadlocks in {{ $labels.datname }} on {{ $labels.target }} within the "
       "last ${window} and aborted one transaction of each (SQLSTATE 40P01).",
       "pg_stat_database_deadlocks rose within window",
       "datid, datname",
       {"logs.last.deadlock", "activity.blocking_chain"},
       eval_rose("pg_stat_database_deadlocks"),
       prom_rose("pg_stat_database_deadlocks")});

  rules.push_back(
      {"PostgresOutOfMemory",
       "warning",
       0s,
       {{"window", 900, Unit::seconds, "how long the alert stays after the last message"}},
       "{{ $labels.target }} ran out of memory",
       "{{ $labels.target }} logged out-of-memory errors within the last ${window}: a query, "
       "autovacuum or a connection could not allocate memory and failed.",
       "a new out_of_memory-class log message (pg_log_messages_total{class=\"out_of_memory\"} "
       "rose) within window",
       "class",
       {"logs.last.out_of_memory"},
       [](const RuleContext& ctx) {
         Findings out;
         if (auto finding = log_class_rose(ctx, "out_of_memory", ctx.params.get("window")))
           out.push_back(std::move(*finding));
         return out;
       },
       [](const PromContext& p) {
         return std::vector<PromAlert>{
             {"sum without (severity) (increase(" +
                  p.select("pg_log_messages_total", "class=\"out_of_memory\"") + "[" +
                  format_threshold(p.params.get("window"), Unit::seconds) + "])) > 0",
              {},
              {},
              {}}};
       }});

  // --- Identity ----------------------------------------------------------------

  rules.push_back(
      {"PostgresSystemIdentifierChanged",
       "critical",
       0s,
       {{"window", 3600, Unit::seconds, "how long the alert stays after the change"}},
       "Another PostgreSQL cluster answers as {{ $labels.target }}",
       "The database system identifier of {{ $labels.target }} changed within the last ${window}: "
       "the data directory was replaced (a lost volume, a re-initdb, a recreated container), the "
       "address points at another server, or the cluster was upgraded with pg_upgrade.",
       "pg_system_identifier_changes_total rose within window",
       "-",
       {"server.system_identifier"},
       eval_rose("pg_system_identifier_changes_total"),
       prom_rose("pg_system_identifier_changes_total")});

  // --- Query performance ------------------------------------------------------

  rules.push_back(
      {"PostgresQuerySlowdown",
       "warning",
       10min,
       {{"factor", 3, Unit::count, "recent mean over lifetime mean"},
        {"min_mean", 0.1, Unit::seconds, "recent mean below this never alerts"},
        {"min_calls", 10, Unit::count, "calls per statements round needed to judge"}},
       "Statement {{ $labels.queryid }} on {{ $labels.target }} got slower",
       "Statement {{ $labels.queryid }} in {{ $labels.datname }} on {{ $labels.target }} now takes "
       "{{ $value | humanizeDuration }} per call on average, more than ${factor} times its "
       "long-term mean (pg_stat_statements), over at least ${min_calls} calls per round.",
       "pg_stat_statements_recent_mean_seconds > factor * pg_stat_statements_mean_seconds, "
       "recent mean > min_mean, recent calls >= min_calls",
       "queryid, datname, user",
       {"statements.top", "activity.top_sessions"},
       [](const RuleContext& ctx) {
         Findings out;
         const auto lifetime =
             ctx.source.samples(ctx.target.name, "pg_stat_statements_mean_seconds");
         const auto calls = ctx.source.samples(ctx.target.name, "pg_stat_statements_recent_calls");
         auto value_for = [](const std::vector<std::pair<Labels, double>>& series,
                             const Labels& labels) -> std::optional<double> {
           for (const auto& [other, value] : series)
             if (other == labels) return value;
           return std::nullopt;
         };
         for (auto& [labels, recent] :
              ctx.source.samples(ctx.target.name, "pg_stat_statements_recent_mean_seconds")) {
           const auto mean = value_for(lifetime, labels);
           const auto recent_calls = value_for(calls, labels);
           if (!mean || !recent_calls || recent <= ctx.params.get("min_mean") ||
               *recent_calls < ctx.params.get("min_calls") ||
               recent <= ctx.params.get("factor") * *mean)
             continue;
           Finding finding;
           finding.labels = labels;
           finding.value = recent;
           finding.evidence =
               fmt::format("recent mean {:.4g} s over {} calls; lifetime mean {:.4g} s\n", recent,
                           *recent_calls, *mean);
           out.push_back(std::move(finding));
         }
         return out;
       },
       [](const PromContext& p) {
         const std::string recent = p.select("pg_stat_statements_recent_mean_seconds");
         return std::vector<PromAlert>{{"(" + recent + " > " + number(p.params.get("factor")) +
                                            " * " + p.select("pg_stat_statements_mean_seconds") +
                                            ") and (" + recent + " > " +
                                            number(p.params.get("min_mean")) + ") and (" +
                                            p.select("pg_stat_statements_recent_calls") +
                                            " >= " + number(p.params.get("min_calls")) + ")",
                                        {},
                                        {},
                                        {}}};
       }});
  return rules;
}

}  // namespace

std::span<const RuleDefinition> rule_table() {
  static const std::vector<RuleDefinition> table = build_table();
  return table;
}

const RuleDefinition* find_rule(std::string_view name) {
  for (const auto& rule : rule_table())
    if (rule.name == name) return &rule;
  return nullptr;
}

RuleParams resolve_params(const RuleDefinition& rule, const config::RuleOverride* override,
                          std::vector<std::string>* unknown_keys) {
  RuleParams params;
  params.for_duration = rule.default_for;
  for (const auto& spec : rule.thresholds)
    params.thresholds.emplace(std::string(spec.key), spec.default_value);
  if (override == nullptr) return params;
  if (override->enabled) params.enabled = *override->enabled;
  if (override->for_duration) params.for_duration = *override->for_duration;
  for (const auto& [key, value] : override->thresholds) {
    auto it = params.thresholds.find(key);
    if (it != params.thresholds.end())
      it->second = value;
    else if (unknown_keys != nullptr)
      unknown_keys->push_back(key);
  }
  return params;
}

std::string format_threshold(double value, Unit unit) {
  switch (unit) {
    case Unit::seconds: {
      if (value <= 0 || !std::isfinite(value)) return number(value) + "s";
      auto ms = static_cast<std::int64_t>(std::llround(value * 1000));
      if (ms % 1000 != 0) return std::to_string(ms) + "ms";
      auto s = ms / 1000;
      std::string out;
      const std::pair<std::int64_t, const char*> units[] = {
          {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
      for (const auto& [size, suffix] : units) {
        if (s >= size) {
          out += std::to_string(s / size) + suffix;
          s %= size;
        }
      }
      return out;
    }
    case Unit::bytes:
      return humanize_1024(value) + "B";
    case Unit::ratio:
      return number(value * 100) + "%";
    case Unit::count:
      return number(value);
  }
  return number(value);
}

std::string substitute_thresholds(std::string_view text, const RuleDefinition& rule,
                                  const RuleParams& params) {
  std::string out(text);
  for (const auto& spec : rule.thresholds) {
    const std::string token = "${" + std::string(spec.key) + "}";
    const std::string value = format_threshold(params.get(spec.key), spec.unit);
    for (auto pos = out.find(token); pos != std::string::npos; pos = out.find(token, pos))
      out.replace(pos, token.size(), value), pos += value.size();
  }
  return out;
}

}  // namespace pgvigil::alerts
