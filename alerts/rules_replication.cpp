// Replication: standbys, replication slots and WAL archiving
// (alerts/tests/replication.yml).
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

std::vector<RuleDefinition> replication_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PostgresReplicationLag",
      .severity = "warning",
      .default_for = 1min,
      .thresholds = {{.key = "warning",
                      .default_value = 5,
                      .unit = Unit::seconds,
                      .meaning = "replay lag for the warning alert"},
                     {.key = "critical",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "replay lag for the critical alert"}},
      .summary = "Replication lag on {{ $labels.target }} is {{ $value | humanizeDuration }}",
      .description = "Replay lag on {{ $labels.target }} is {{ $value | humanizeDuration }} "
                     "(warning above ${warning}, critical above ${critical}).",
      .condition = "standby: pg_replication_lag_seconds; primary: "
                   "pg_stat_replication_replay_delay_seconds; > warning (warning), > critical "
                   "(critical)",
      .rule_labels = "application_name, client_addr, slot_name, state (primary side)",
      .evidence_keys = {"replication.standbys", "replication.receiver"},
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = severities(ctx, "pg_replication_lag_seconds");
            auto primary = severities(ctx, "pg_stat_replication_replay_delay_seconds");
            out.insert(out.end(), primary.begin(), primary.end());
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            auto standby = prom_severities(p, "pg_replication_lag_seconds");
            auto primary = prom_severities(p, "pg_stat_replication_replay_delay_seconds");
            for (std::size_t i = 0; i < standby.size(); ++i)
              standby[i].expr = "(" + standby[i].expr + ") or (" + primary[i].expr + ")";
            return standby;
          },
  });

  rules.push_back({
      .name = "PostgresReplicaMissing",
      .severity = "critical",
      .default_for = 1min,
      .summary = "{{ $labels.target }} is missing {{ $value }} streaming replica(s)",
      .description = "Fewer physical standbys stream from {{ $labels.target }} than "
                     "expected_replicas says ({{ $value }} missing).",
      .condition = "pg_replication_missing_replicas > 0 (expected_replicas set)",
      .rule_labels = "-",
      .evidence_keys = {"replication.standbys"},
      .evaluate =
          [](const RuleContext& ctx) { return above(ctx, "pg_replication_missing_replicas", 0); },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = p.select("pg_replication_missing_replicas") + " > 0"}};
          },
  });

  rules.push_back({
      .name = "PostgresReplicationSlotInactive",
      .severity = "warning",
      .default_for = 10min,
      .thresholds = {{.key = "bytes",
                      .default_value = 1024.0 * 1024 * 1024,
                      .unit = Unit::bytes,
                      .meaning = "WAL an inactive slot may retain"}},
      .summary = "Inactive replication slot {{ $labels.slot_name }} on {{ $labels.target }} "
                 "retains {{ $value | humanize1024 }}B of WAL",
      .description =
          "Replication slot {{ $labels.slot_name }} on {{ $labels.target }} has no consumer and "
          "retains {{ $value | humanize1024 }}B of WAL (limit ${bytes}); pg_wal keeps growing "
          "until it is used or dropped.",
      .condition =
          "pg_replication_slots_active == 0 and pg_replication_slots_pg_wal_lsn_diff > bytes",
      .rule_labels = "slot_name, slot_type, database",
      .evidence_keys = {"slots.inactive"},
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const auto active = ctx.source.samples(ctx.target.name, "pg_replication_slots_active");
            for (auto& finding :
                 above(ctx, "pg_replication_slots_pg_wal_lsn_diff", ctx.params.get("bytes")))
              if (any_series(active, finding.labels, [](double v) { return v == 0; }))
                out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_replication_slots_pg_wal_lsn_diff") + " > " +
                         number(p.params.get("bytes")) + ") and (" +
                         p.select("pg_replication_slots_active") + " == 0)"}};
          },
  });

  rules.push_back({
      .name = "PostgresRoleChanged",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 600,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the flip"}},
      .summary = "{{ $labels.target }} changed role (failover or promotion)",
      .description =
          "The recovery state of {{ $labels.target }} flipped within the last ${window}: a "
          "standby was promoted or a primary became a standby.",
      .condition = "pg_role_changes_total rose within window",
      .rule_labels = "-",
      .evidence_keys = {"replication.standbys", "replication.receiver"},
      .evaluate = eval_rose("pg_role_changes_total"),
      .prometheus = prom_rose("pg_role_changes_total"),
  });

  rules.push_back({
      .name = "PostgresWalArchivingFailing",
      .severity = "critical",
      .default_for = 5min,
      .summary = "WAL archiving on {{ $labels.target }} is failing",
      .description =
          "archive_command on {{ $labels.target }} fails, or the newest archived WAL is older "
          "than the target's RPO while WAL is being written: point-in-time recovery is at risk "
          "and pg_wal grows.",
      .condition = "pg_wal_archive_failing == 1 or pg_wal_archive_rpo_breached == 1",
      .rule_labels = "-",
      .evidence_keys = {"archiver.last_failure"},
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = each_sample(ctx, "pg_wal_archive_failing", [](double v) { return v == 1; });
            if (out.empty())
              out =
                  each_sample(ctx, "pg_wal_archive_rpo_breached", [](double v) { return v == 1; });
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_wal_archive_failing") + " == 1) or (" +
                         p.select("pg_wal_archive_rpo_breached") + " == 1)"}};
          },
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
