#include "probes/builtin_metrics.hpp"

#include <algorithm>

namespace pgvigil {

std::vector<std::pair<std::string_view, std::string_view>> builtin_metric_names() {
  std::vector<std::pair<std::string_view, std::string_view>> names;
  for (const auto& metric : builtin_metrics_as_documented())
    names.emplace_back(metric.name, metric.section);
  std::stable_sort(names.begin(), names.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  names.erase(std::unique(names.begin(), names.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; }),
              names.end());
  return names;
}

}  // namespace pgvigil
