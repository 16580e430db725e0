#pragma once
// The one writer of the text exposition format (0.0.4). Byte for byte what
// prometheus::TextSerializer writes (a unit test compares the two on hostile
// input), without its ostream: numbers go through std::to_chars and label
// values are escaped a run at a time, several times faster. Every /metrics
// byte pgvigil serves goes through here.
#include <prometheus/metric_family.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "probes/sample_sink.hpp"  // Labels

namespace pgvigil {

// "# HELP" (when the family has help text) and "# TYPE" lines of a family.
void append_family_header(std::string& out, const prometheus::MetricFamily& family);
// The family's sample lines, each sample's labels preceded by `identity`.
void append_family_samples(std::string& out, const prometheus::MetricFamily& family,
                           const Labels& identity = {});
// A label set as a sample line writes it after the name: {a="x",b="y"}
// (nothing for no labels). For series whose labels never change: written
// once, appended per line.
void append_label_set(std::string& out,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels);
// One sample line of a counter, gauge or untyped family: the identity's
// labels, then the sample's own; a timestamp when it is not 0.
void append_sample_line(std::string& out, std::string_view name, const Labels& identity,
                        const Labels& labels, double value, std::int64_t timestamp_ms = 0);
// Header and samples of every family, in order.
void append_families(std::string& out, const std::vector<prometheus::MetricFamily>& families);

// A sample value as the format writes it: %.16g, "Nan", "+Inf", "-Inf".
void append_sample_value(std::string& out, double value);

}  // namespace pgvigil
