#pragma once
// Every metric family name pgvigil itself serves, as docs/metrics.md lists
// them (generated at build time by cmake/builtin_metrics.cmake), with the
// section of the page that lists it: the probe's name for a probe's metrics.
// Custom collectors may not take one of these names (unless that probe is off).
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvigil {

struct BuiltinMetric {
  std::string_view name;
  std::string_view section;  // "vacuum", "liveness", "pgvigil", ...
};

// In the page's order, repeats included (generated).
std::span<const BuiltinMetric> builtin_metrics_as_documented();

// Sorted by name, each name once (the first section that lists it).
std::vector<std::pair<std::string_view, std::string_view>> builtin_metric_names();

}  // namespace pgvigil
