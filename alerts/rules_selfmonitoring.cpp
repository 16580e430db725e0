// Self-monitoring: pgvigil's own probes (alerts/tests/selfmonitoring.yml). The
// export puts these rules, and PgvigilNotScraped, in the group
// pgvigil.selfmonitoring (alerts/prometheus_rules.cpp).
#include <algorithm>
#include <cmath>
#include <limits>

#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

std::vector<RuleDefinition> selfmonitoring_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PgvigilProbeFailing",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "threshold",
                      .default_value = 600,
                      .unit = Unit::seconds,
                      .meaning = "time since the probe last succeeded"}},
      .summary = "Probe {{ $labels.probe }} of {{ $labels.target }} has not succeeded for "
                 "{{ $value | humanizeDuration }}",
      .description =
          "pgvigil reaches {{ $labels.target }}, but its {{ $labels.probe }} probe has not "
          "succeeded for {{ $value | humanizeDuration }} (limit ${threshold}): its metrics are "
          "stale and the alerts built on them are blind.",
      .condition = "target up and now - pgvigil_probe_last_success_timestamp_seconds > threshold",
      .rule_labels = "probe",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            if (!ctx.target.up) return out;
            const double now = unix_seconds(ctx.now());
            const double threshold = ctx.params.get("threshold");
            double first_stale = std::numeric_limits<double>::infinity();
            for (auto& finding :
                 each_sample(ctx, "pgvigil_probe_last_success_timestamp_seconds", [&](double v) {
                   first_stale = std::min(first_stale, v + threshold);
                   return now - v > threshold;
                 })) {
              finding.value = now - finding.value;
              out.push_back(std::move(finding));
            }
            // Nothing stale: a success only moves a probe's time later, so
            // nothing can be before the first probe's limit passes.
            if (out.empty()) ctx.settled(from_unix_seconds(first_stale));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = "(time() - " + p.select("pgvigil_probe_last_success_timestamp_seconds") +
                         ") > " + number(p.params.get("threshold")) + " and on(target) (" +
                         p.select("pg_up") + " == 1)"}};
          },
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
