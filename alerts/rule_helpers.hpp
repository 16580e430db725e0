#pragma once
// What the rule groups (alerts/rules_*.cpp) share: sample lookups, the
// threshold and counter-rise conditions, and their PromQL twins built from the
// same metric and threshold key. Internal to alerts/.
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alerts/labels.hpp"
#include "alerts/rules.hpp"

namespace pgvigil::alerts::detail {

using Findings = std::vector<Finding>;
using Series = std::vector<std::pair<Labels, double>>;
using Evaluate = std::function<Findings(const RuleContext&)>;
using Prometheus = std::function<std::vector<PromAlert>(const PromContext&)>;

// A number as PromQL and people read it: shortest exact form.
std::string number(double value);

// `now` as unix seconds, the unit of the timestamp metrics.
double unix_seconds(Clock::time_point now);
// The clock point of a Unix time, for RuleContext::settled(); max() for one
// that is not finite or lies beyond the clock's range.
Clock::time_point from_unix_seconds(double seconds);

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
               std::string severity = {});

// Whether `series` holds a sample with the label set of `labels` whose value
// passes `test`.
bool any_series(const Series& series, const Labels& labels,
                const std::function<bool(double)>& test);

// The label of the current state of a state set (the series whose value is 1).
std::optional<std::string> current_state(const RuleContext& ctx, std::string_view metric,
                                         std::string_view state_label);

// True while a counter rose within the last `window` seconds. The first value
// seen is a baseline, like Prometheus' increase() over a range starting there.
bool rose_within(const RuleContext& ctx, const std::string& series, double value, double window);

// A counter's per-second rate over the last `window` seconds, from the values
// this rule saw (kept in its memory, about 32 per series and window):
// nothing until they span half the window, as rate() needs two samples; a
// counter that went down (a restart) starts its history again. The twin of
// PromQL's rate(metric[window]).
std::optional<double> rate_over(const RuleContext& ctx, const std::string& series, double value,
                                double window);
// "rate(metric[window])" for the "window" threshold.
std::string rate_expr(const PromContext& p, std::string_view metric);

// A rule that fires while one metric is above one threshold: its evaluation in
// the daemon and its PromQL, from the same metric and threshold key.
Evaluate eval_above(std::string metric, std::string key);
Prometheus prom_above(std::string metric, std::string key);

// A rule that fires while a metric equals `value` (a 0/1 flag or state).
Evaluate eval_equals(std::string metric, double value);
Prometheus prom_equals(std::string metric, double value);

// Counters that rose within the "window" threshold, one finding per series
// (each series' last value remembered), and the same as PromQL increase().
Findings rose_findings(const RuleContext& ctx, const std::string& metric);
std::string rose_expr(const PromContext& p, std::string_view metric);
Evaluate eval_rose(std::string metric);
Prometheus prom_rose(std::string metric);

// Messages of one log class (pg_log_messages_total{class}, summed over every
// severity) that arrived within the "window" threshold: a finding with the
// class label, or nothing; and the same as PromQL.
Findings log_class_rose(const RuleContext& ctx, std::string_view klass);
std::string log_class_rose_expr(const PromContext& p, std::string_view klass);

// A metric with a "warning" and a "critical" threshold: one finding (one
// PromQL alert) per severity.
Findings severities(const RuleContext& ctx, std::string_view metric);
std::vector<PromAlert> prom_severities(const PromContext& p, std::string_view metric);

}  // namespace pgvigil::alerts::detail
