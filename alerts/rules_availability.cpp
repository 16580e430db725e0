// Availability: can clients connect and do their sessions get work done
// (alerts/tests/availability.yml).
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

// A finding while connections fail with `reason` (pg_connection_failure).
void add_connection_failure(const RuleContext& ctx, std::string_view reason, Findings& out) {
  if (current_state(ctx, "pg_connection_failure", "reason") != reason) return;
  Finding finding;
  finding.labels = {{"reason", std::string(reason)}};
  finding.value = 1;
  out.push_back(std::move(finding));
}

}  // namespace

std::vector<RuleDefinition> availability_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PostgresDown",
      .severity = "critical",
      .default_for = 30s,
      .summary = "PostgreSQL {{ $labels.target }} is down ({{ $labels.reason }})",
      .description =
          "pgvigil cannot connect to {{ $labels.target }} and run a trivial query; the connection "
          "fails with reason {{ $labels.reason }}.",
      .condition = "pg_up == 0, with the classified connection failure",
      .rule_labels = "reason",
      .evidence_keys = {"logs.last.panic", "logs.last.fatal", "datadir.pidfile"},
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "pg_up")) {
              if (value != 0) continue;
              Finding finding;
              auto reason = current_state(ctx, "pg_connection_failure", "reason");
              if (reason && *reason != "none") finding.labels.emplace_back("reason", *reason);
              finding.evidence =
                  "reason: " + reason.value_or(ctx.target.reason) + "\nlast connection error: " +
                  (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) + "\n";
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto down = "(" + p.select("pg_up") + " == 0)";
            return std::vector<PromAlert>{
                {.expr = down + " * ignoring(reason) group_left(reason) (" +
                         p.select("pg_connection_failure", "reason!=\"none\"") +
                         " == 1) or ignoring(reason) " + down}};
          },
  });

  rules.push_back({
      .name = "PostgresDatabaseMissing",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Database missing on {{ $labels.target }}",
      .description =
          "An expected database ({{ $labels.datname }}) is gone from {{ $labels.target }}, or "
          "connections fail because the database does not exist (reason {{ $labels.reason }}).",
      .condition =
          "pg_database_exists == 0 (expected_databases), or connections fail with database_missing",
      .rule_labels = "datname or reason",
      .evidence_keys = {"logs.last.database_missing"},
      .evaluate =
          [](const RuleContext& ctx) {
            auto out = each_sample(ctx, "pg_database_exists", [](double v) { return v == 0; });
            add_connection_failure(ctx, "database_missing", out);
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_database_exists") + " == 0) or (" +
                         p.select("pg_connection_failure", "reason=\"database_missing\"") +
                         " == 1)"}};
          },
  });

  rules.push_back({
      .name = "PostgresTooManyConnections",
      .severity = "warning",
      .default_for = 2min,
      .thresholds = {{.key = "warning",
                      .default_value = 0.8,
                      .unit = Unit::ratio,
                      .meaning = "share of max_connections - reserved slots in use (exclusive)"}},
      .summary = "{{ $labels.target }} uses {{ $value | humanizePercentage }} of its connections",
      .description =
          "Client connections on {{ $labels.target }} take {{ $value | humanizePercentage }} of "
          "the slots ordinary roles may use (limit ${warning}).",
      .condition = "pg_connections_utilization_ratio > warning",
      .rule_labels = "-",
      .evidence_keys = {"activity.top_sessions"},
      .evaluate = eval_above("pg_connections_utilization_ratio", "warning"),
      .prometheus = prom_above("pg_connections_utilization_ratio", "warning"),
  });

  rules.push_back({
      .name = "PostgresConnectionsExhausted",
      .severity = "critical",
      .default_for = 30s,
      .thresholds = {{.key = "critical",
                      .default_value = 1.0,
                      .unit = Unit::ratio,
                      .meaning = "share of usable connection slots in use (inclusive)"}},
      .summary = "{{ $labels.target }} has no connection slots left",
      .description =
          "Connections on {{ $labels.target }} are at or above ${critical} of the usable slots, "
          "or new connections fail with too_many_clients.",
      .condition =
          "pg_connections_utilization_ratio >= critical, or connections fail with too_many_clients",
      .rule_labels = "reason (when from a connection failure)",
      .evidence_keys = {"activity.top_sessions", "logs.last.too_many_clients"},
      .evaluate =
          [](const RuleContext& ctx) {
            const double critical = ctx.params.get("critical");
            auto out = each_sample(ctx, "pg_connections_utilization_ratio",
                                   [critical](double v) { return v >= critical; });
            add_connection_failure(ctx, "too_many_clients", out);
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(" + p.select("pg_connections_utilization_ratio") +
                         " >= " + number(p.params.get("critical")) + ") or (" +
                         p.select("pg_connection_failure", "reason=\"too_many_clients\"") +
                         " == 1)"}};
          },
  });

  rules.push_back({
      .name = "PostgresIdleInTransaction",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "threshold",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "age of the oldest idle-in-transaction session"}},
      .summary = "A session on {{ $labels.target }} is idle in transaction for "
                 "{{ $value | humanizeDuration }}",
      .description =
          "The oldest idle-in-transaction session on {{ $labels.target }} has been idle for "
          "{{ $value | humanizeDuration }} (limit ${threshold}); it holds locks and blocks vacuum.",
      .condition = "pg_stat_activity_oldest_idle_in_transaction_seconds > threshold",
      .rule_labels = "-",
      .evidence_keys = {"activity.idle_in_transaction"},
      .evaluate = eval_above("pg_stat_activity_oldest_idle_in_transaction_seconds", "threshold"),
      .prometheus = prom_above("pg_stat_activity_oldest_idle_in_transaction_seconds", "threshold"),
  });

  rules.push_back({
      .name = "PostgresLongRunningQuery",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "threshold",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "run time of the longest active statement"}},
      .summary = "A query on {{ $labels.target }} runs for {{ $value | humanizeDuration }}",
      .description = "The longest active statement on {{ $labels.target }} has run for "
                     "{{ $value | humanizeDuration }} (limit ${threshold}).",
      .condition = "pg_stat_activity_longest_query_seconds > threshold",
      .rule_labels = "-",
      .evidence_keys = {"activity.top_sessions"},
      .evaluate = eval_above("pg_stat_activity_longest_query_seconds", "threshold"),
      .prometheus = prom_above("pg_stat_activity_longest_query_seconds", "threshold"),
  });

  rules.push_back({
      .name = "PostgresLockContention",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "threshold",
                      .default_value = 60,
                      .unit = Unit::seconds,
                      .meaning = "longest wait for a heavyweight lock"}},
      .summary =
          "A session on {{ $labels.target }} waits {{ $value | humanizeDuration }} for a lock",
      .description = "A session on {{ $labels.target }} has been blocked on a lock for "
                     "{{ $value | humanizeDuration }} (limit ${threshold}).",
      .condition = "pg_stat_activity_longest_lock_wait_seconds > threshold",
      .rule_labels = "-",
      .evidence_keys = {"activity.blocking_chain"},
      .evaluate = eval_above("pg_stat_activity_longest_lock_wait_seconds", "threshold"),
      .prometheus = prom_above("pg_stat_activity_longest_lock_wait_seconds", "threshold"),
  });

  return rules;
}

// Tested with availability (alerts/tests/availability.yml) but exported after
// the storage rules, where the rule file has always had it.
std::vector<RuleDefinition> custom_check_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PostgresCustomCheckFailed",
      .severity = "warning",
      .default_for = 0s,
      .summary = "Check {{ $labels.check }} failed on {{ $labels.target }}",
      .description = "The custom check {{ $labels.check }} on {{ $labels.target }} does not meet "
                     "its expectation, or its SQL fails.",
      .condition = "pgvigil_check_ok == 0 for the check's own `for`",
      .rule_labels = "check (severity from the check)",
      .evaluate =
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
                // A collector's expectation: check = <collector>_<column>.
                for (const auto& collector : ctx.target.config->collectors)
                  for (const auto& column : collector.columns) {
                    if (!column.has_expect || collector.metric_name(column) != name) continue;
                    finding.severity = column.severity;
                    if (column.for_duration > config::Duration::zero())
                      finding.for_duration = column.for_duration;
                  }
              }
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus = prom_equals("pgvigil_check_ok", 0),
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
