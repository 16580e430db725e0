#pragma once
// Every metric family name pgvigil itself serves, as docs/metrics.md lists
// them (generated at build time by cmake/builtin_metrics.cmake). Custom
// collectors may not take one of these names.
#include <span>
#include <string_view>

namespace pgvigil {

// Sorted.
std::span<const std::string_view> builtin_metric_names();

}  // namespace pgvigil
