#include "alerts/labels.hpp"

#include <algorithm>

namespace pgvigil::alerts {

std::string label_value(const Labels& labels, std::string_view name) {
  for (const auto& [key, value] : labels)
    if (key == name) return value;
  return {};
}

std::string fingerprint(const Labels& labels) {
  auto sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const auto& [name, value] : sorted) key += name + '=' + value + '\x1f';
  return key;
}

}  // namespace pgvigil::alerts
