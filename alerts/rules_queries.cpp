// Query performance from pg_stat_statements (alerts/tests/queries.yml).
#include <fmt/format.h>

#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

std::vector<RuleDefinition> queries_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PostgresQuerySlowdown",
      .severity = "warning",
      .default_for = 10min,
      .thresholds = {{.key = "factor",
                      .default_value = 3,
                      .unit = Unit::count,
                      .meaning = "recent mean over lifetime mean"},
                     {.key = "min_mean",
                      .default_value = 0.1,
                      .unit = Unit::seconds,
                      .meaning = "recent mean below this never alerts"},
                     {.key = "min_calls",
                      .default_value = 10,
                      .unit = Unit::count,
                      .meaning = "calls per statements round needed to judge"}},
      .summary = "Statement {{ $labels.queryid }} on {{ $labels.target }} got slower",
      .description =
          "Statement {{ $labels.queryid }} in {{ $labels.datname }} on {{ $labels.target }} now "
          "takes {{ $value | humanizeDuration }} per call on average, more than ${factor} times "
          "its long-term mean (pg_stat_statements), over at least ${min_calls} calls per round.",
      .condition = "pg_stat_statements_recent_mean_seconds > factor * "
                   "pg_stat_statements_mean_seconds, recent mean > min_mean, recent calls >= "
                   "min_calls",
      .rule_labels = "queryid, datname, user",
      .evidence_keys = {"statements.top", "activity.top_sessions"},
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const auto lifetime =
                ctx.source.samples(ctx.target.name, "pg_stat_statements_mean_seconds");
            const auto calls =
                ctx.source.samples(ctx.target.name, "pg_stat_statements_recent_calls");
            auto value_for = [](const Series& series,
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
                  fmt::format("recent mean {:.4g} s over {} calls; lifetime mean {:.4g} s\n",
                              recent, *recent_calls, *mean);
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const std::string recent = p.select("pg_stat_statements_recent_mean_seconds");
            return std::vector<PromAlert>{
                {.expr = "(" + recent + " > " + number(p.params.get("factor")) + " * " +
                         p.select("pg_stat_statements_mean_seconds") + ") and (" + recent + " > " +
                         number(p.params.get("min_mean")) + ") and (" +
                         p.select("pg_stat_statements_recent_calls") +
                         " >= " + number(p.params.get("min_calls")) + ")"}};
          },
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
