#pragma once
// Label-set utilities shared by the rules, the template engine and the
// evaluator.
#include <string>
#include <string_view>

#include "probes/sample_sink.hpp"

namespace pgvigil::alerts {

// The value of label `name`, empty when the set has no such label.
std::string label_value(const Labels& labels, std::string_view name);

// A stable identity of a label set ("name=value" pairs, sorted, joined by
// \x1f): the key of a series in the rules and their memory, of an alert in the
// evaluator, and of an alert in the daemon's Alertmanager queue. A map key,
// not a hash.
std::string fingerprint(const Labels& labels);

}  // namespace pgvigil::alerts
