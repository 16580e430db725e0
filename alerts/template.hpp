#pragma once
// The subset of Prometheus' alert templates pgvigil renders itself, so an
// alert's summary and description read the same from the daemon as from
// Prometheus: {{ $labels.X }}, {{ $value }}, and $value piped to humanize,
// humanizeDuration, humanizePercentage or humanize1024.
#include <string>
#include <string_view>

#include "probes/sample_sink.hpp"

namespace pgvigil::alerts {

// Renders the template subset above with label values and $value; unknown
// expressions are left as they are.
std::string render_template(std::string_view text, const Labels& labels, double value);

// Prometheus' humanize functions (Go's %.4g formatting).
std::string humanize(double value);
std::string humanize_duration(double seconds);
std::string humanize_percentage(double ratio);
std::string humanize_1024(double value);

}  // namespace pgvigil::alerts
