#pragma once
// The probe and rule names a config may refer to ([probes.NAME],
// [alerting.rules.NAME], a target's own tables). The config layer sits below
// probes/ and alerts/, so it keeps no list of its own: the caller hands in
// the names derived from the probe catalogue (probes/catalogue.cpp) and the
// rule table (alerts/rules_*.cpp); alerts::config_vocabulary() joins them.
#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvigil::config {

struct Vocabulary {
  std::vector<std::string_view> probes;
  std::vector<std::string_view> rules;
  // Built-in metric names, sorted, each with the docs/metrics.md section
  // (the probe) that lists it: a collector may not use one while that probe runs.
  std::vector<std::pair<std::string_view, std::string_view>> metrics;

  bool is_probe(std::string_view name) const {
    return std::find(probes.begin(), probes.end(), name) != probes.end();
  }
  // The section of a built-in metric, or nullptr when it is not one.
  const std::string_view* builtin_metric(std::string_view name) const {
    auto it =
        std::lower_bound(metrics.begin(), metrics.end(), name,
                         [](const auto& entry, std::string_view n) { return entry.first < n; });
    return it != metrics.end() && it->first == name ? &it->second : nullptr;
  }
  bool is_rule(std::string_view name) const {
    return std::find(rules.begin(), rules.end(), name) != rules.end();
  }
};

}  // namespace pgvigil::config
