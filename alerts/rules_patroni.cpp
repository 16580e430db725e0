// Patroni (targets with patroni_url): the cluster as its REST API reports it
// (alerts/tests/patroni.yml).
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

std::vector<RuleDefinition> patroni_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PatroniNoLeader",
      .severity = "critical",
      .default_for = 30s,
      .summary = "Patroni cluster of {{ $labels.target }} has no leader",
      .description =
          "No member of the Patroni cluster {{ $labels.scope }} seen through {{ $labels.target }} "
          "holds the leader key: there is no primary accepting writes and Patroni has not "
          "promoted a replacement.",
      .condition = "patroni_cluster_unlocked == 1",
      .rule_labels = "scope (when Patroni reports it)",
      .evidence_keys = {"patroni.members"},
      .evaluate = eval_equals("patroni_cluster_unlocked", 1),
      .prometheus = prom_equals("patroni_cluster_unlocked", 1),
  });

  rules.push_back({
      .name = "PatroniUnreachable",
      .severity = "warning",
      .default_for = 1min,
      .summary = "Patroni REST API of {{ $labels.target }} does not answer",
      .description = "pgvigil cannot get a usable GET /cluster reply from the Patroni of "
                     "{{ $labels.target }}: that Patroni is down or hung, so this node takes no "
                     "part in failover, and PatroniNoLeader cannot be evaluated through it.",
      .condition = "patroni_up == 0",
      .rule_labels = "-",
      .evidence_keys = {"patroni.members"},
      .evaluate = eval_equals("patroni_up", 0),
      .prometheus = prom_equals("patroni_up", 0),
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
