#include "alerts/rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>

#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"
#include "alerts/template.hpp"
#include "config/units.hpp"
#include "probes/builtin_metrics.hpp"
#include "probes/probe.hpp"

namespace pgvigil::alerts {

using detail::number;

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

// The groups in the order of the exported rule file (alerts/pgvigil.rules.yml,
// byte-identical across refactorings; tests/unit/alerts/prometheus_rules_test).
// The config's list of valid rule names is derived from this table.
std::vector<RuleDefinition> build_table() {
  std::vector<RuleDefinition> rules;
  for (auto group : {detail::availability_rules, detail::replication_rules, detail::storage_rules,
                     detail::custom_check_rules, detail::selfmonitoring_rules,
                     detail::patroni_rules, detail::detections_rules, detail::queries_rules,
                     detail::redis_rules, detail::pgbouncer_rules, detail::neo4j_rules}) {
    auto more = group();
    std::move(more.begin(), more.end(), std::back_inserter(rules));
  }
  return rules;
}
}  // namespace

std::span<const RuleDefinition> rule_table() {
  static const std::vector<RuleDefinition> table = build_table();
  return table;
}

std::vector<std::string_view> rule_names() {
  std::vector<std::string_view> names;
  for (const auto& rule : rule_table()) names.emplace_back(rule.name);
  return names;
}

config::Vocabulary config_vocabulary() {
  return {probe_names(), rule_names(), builtin_metric_names()};
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
      const auto ms = static_cast<std::int64_t>(std::llround(value * 1000));
      // A fraction of a second is written in milliseconds alone ("1500ms").
      if (ms % 1000 != 0) return std::to_string(ms) + "ms";
      return config::format_duration(config::Duration(ms));
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
