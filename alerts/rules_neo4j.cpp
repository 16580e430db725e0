// Neo4j targets (kind = "neo4j"): down with its reason, the configured
// database unavailable on a server that answers, a clustered database with
// no writable member (alerts/tests/neo4j.yml; docs/neo4j.md).
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

// The series of `metric` with the label `key` equal to `value`, if any.
std::optional<double> labelled(const RuleContext& ctx, std::string_view metric,
                               std::string_view key, std::string_view value) {
  for (const auto& [labels, v] : ctx.source.samples(ctx.target.name, metric)) {
    for (const auto& [k, lv] : labels)
      if (k == key && lv == value) return v;
  }
  return std::nullopt;
}

bool database_unavailable(const RuleContext& ctx) {
  for (const auto& [labels, value] :
       ctx.source.samples(ctx.target.name, "neo4j_database_available"))
    if (value == 0) return true;
  return false;
}

}  // namespace

std::vector<RuleDefinition> neo4j_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "Neo4jDown",
      .severity = "critical",
      .default_for = 30s,
      .summary = "Neo4j {{ $labels.target }} is down ({{ $labels.reason }})",
      .description = "pgvigil cannot reach the Neo4j server {{ $labels.target }} over its HTTP "
                     "API and get RETURN 1 answered on the configured database within the "
                     "timeout; the round fails with reason {{ $labels.reason }}.",
      .condition = "neo4j_up == 0, with the classified failure (neo4j_connection_failure); not "
                   "while Neo4jDatabaseUnavailable holds (the server answers, its database not)",
      .rule_labels = "reason",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            if (database_unavailable(ctx)) return out;
            for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "neo4j_up")) {
              if (value != 0) continue;
              Finding finding;
              auto reason = current_state(ctx, "neo4j_connection_failure", "reason");
              if (reason && *reason != "none") finding.labels.emplace_back("reason", *reason);
              finding.evidence =
                  "reason: " + reason.value_or(ctx.target.reason) +
                  "\nlast error: " + (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) +
                  "\n";
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto down = "(" + p.select("neo4j_up") + " == 0)";
            return std::vector<PromAlert>{
                {.expr = "(" + down + " * ignoring(reason) group_left(reason) (" +
                         p.select("neo4j_connection_failure", "reason!=\"none\"") +
                         " == 1) or ignoring(reason) " + down + ") unless on(target) (" +
                         p.select("neo4j_database_available") + " == 0)"}};
          },
  });

  rules.push_back({
      .name = "Neo4jDatabaseUnavailable",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Neo4j database {{ $labels.database }} on {{ $labels.target }} is unavailable",
      .description = "The Neo4j server {{ $labels.target }} answers, but its database "
                     "{{ $labels.database }} does not serve queries (stopped, starting, "
                     "recovering or quarantined): clients get DatabaseUnavailable.",
      .condition = "neo4j_database_available == 0 (the cluster endpoint, or the transaction's "
                   "Neo.TransientError.Database.DatabaseUnavailable)",
      .rule_labels = "database",
      .evaluate =
          [](const RuleContext& ctx) {
            auto out =
                each_sample(ctx, "neo4j_database_available", [](double v) { return v == 0; });
            for (auto& finding : out)
              finding.evidence =
                  "last error: " + (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) +
                  "\n";
            return out;
          },
      .prometheus = prom_equals("neo4j_database_available", 0),
  });

  rules.push_back({
      .name = "Neo4jNoWritableMember",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Neo4j cluster of {{ $labels.target }} has no writable member for "
                 "{{ $labels.database }}",
      .description = "The Neo4j cluster member {{ $labels.target }} knows no leader for the "
                     "database {{ $labels.database }}: no member accepts its writes (lost "
                     "quorum, a partition, or members down) while reads may still work.",
      .condition = "neo4j_cluster_leader_known == 0 (from /dbms/cluster/status, Enterprise)",
      .rule_labels = "database",
      .evaluate =
          [](const RuleContext& ctx) {
            auto out =
                each_sample(ctx, "neo4j_cluster_leader_known", [](double v) { return v == 0; });
            for (auto& finding : out) {
              std::string database;
              for (const auto& [k, v] : finding.labels)
                if (k == "database") database = v;
              const auto members =
                  labelled(ctx, "neo4j_cluster_voting_members", "database", database);
              const auto age =
                  labelled(ctx, "neo4j_cluster_leader_message_age_seconds", "database", database);
              const auto writable = labelled(ctx, "neo4j_database_writable", "database", database);
              finding.evidence =
                  "voting members: " + (members ? number(*members) : std::string("-")) +
                  "\nlast message from a leader: " +
                  (age ? number(*age) + " s ago" : std::string("-")) + "\nthis member writable: " +
                  (writable ? (*writable != 0 ? "yes" : "no") : std::string("-")) + "\n";
            }
            return out;
          },
      .prometheus = prom_equals("neo4j_cluster_leader_known", 0),
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
