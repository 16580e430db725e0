#include "collect/exposition_text.hpp"

#include <prometheus/text_serializer.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace pgvigil {
namespace {

void append_escaped(std::string& out, std::string_view value) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\n' && c != '\\' && c != '"') continue;
    out.append(value.substr(start, i - start));
    out += '\\';
    out += c == '\n' ? 'n' : c;
    start = i + 1;
  }
  out.append(value.substr(start));
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
  std::array<char, 24> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

// `{name="value"` or `,name="value"`: the first label opens the braces.
void append_label(std::string& out, bool first, std::string_view name, std::string_view value) {
  out += first ? '{' : ',';
  out += name;
  out += "=\"";
  append_escaped(out, value);
  out += '"';
}

void append_head(std::string& out, std::string_view name, const Labels& identity,
                 const std::vector<prometheus::ClientMetric::Label>& labels) {
  out += name;
  bool first = true;
  for (const auto& [label, value] : identity)
    append_label(out, std::exchange(first, false), label, value);
  for (const auto& each : labels)
    append_label(out, std::exchange(first, false), each.name, each.value);
  if (!first) out += '}';
  out += ' ';
}

void append_tail(std::string& out, std::int64_t timestamp_ms) {
  if (timestamp_ms != 0) {
    out += ' ';
    append_integer(out, timestamp_ms);
  }
  out += '\n';
}

// Histograms and summaries (none of pgvigil's own series today) take the
// library's path, with the identity added to a copy of the sample.
void append_via_library(std::string& out, const prometheus::MetricFamily& family,
                        const Labels& identity) {
  prometheus::MetricFamily copy = family;
  copy.help.clear();
  for (auto& metric : copy.metric) {
    std::vector<prometheus::ClientMetric::Label> labels;
    for (const auto& [name, value] : identity) labels.push_back({name, value});
    labels.insert(labels.end(), metric.label.begin(), metric.label.end());
    metric.label = std::move(labels);
  }
  std::string text = prometheus::TextSerializer().Serialize({copy});
  // Drop the "# TYPE" line the library writes first.
  const auto newline = text.find('\n');
  out.append(text, newline == std::string::npos ? text.size() : newline + 1);
}

}  // namespace

void append_sample_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    // The library streams with precision max_digits10 - 1 in the classic
    // locale: printf's %.16g, which to_chars reproduces exactly.
    std::array<char, 32> buffer{};
    const auto result =
        std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                      std::chars_format::general, std::numeric_limits<double>::max_digits10 - 1);
    out.append(buffer.data(), result.ptr);
  }
}

void append_family_header(std::string& out, const prometheus::MetricFamily& family) {
  if (!family.help.empty()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    out += family.help;
    out += '\n';
  }
  out += "# TYPE ";
  out += family.name;
  switch (family.type) {
    case prometheus::MetricType::Counter:
      out += " counter\n";
      break;
    case prometheus::MetricType::Gauge:
      out += " gauge\n";
      break;
    case prometheus::MetricType::Summary:
      out += " summary\n";
      break;
    case prometheus::MetricType::Histogram:
      out += " histogram\n";
      break;
    case prometheus::MetricType::Untyped:
      out += " untyped\n";
      break;
  }
}

void append_family_samples(std::string& out, const prometheus::MetricFamily& family,
                           const Labels& identity) {
  double (*value_of)(const prometheus::ClientMetric&) = nullptr;
  switch (family.type) {
    case prometheus::MetricType::Counter:
      value_of = [](const prometheus::ClientMetric& m) { return m.counter.value; };
      break;
    case prometheus::MetricType::Gauge:
      value_of = [](const prometheus::ClientMetric& m) { return m.gauge.value; };
      break;
    case prometheus::MetricType::Untyped:
      value_of = [](const prometheus::ClientMetric& m) { return m.untyped.value; };
      break;
    case prometheus::MetricType::Summary:
    case prometheus::MetricType::Histogram:
      return append_via_library(out, family, identity);
  }
  for (const auto& metric : family.metric) {
    append_head(out, family.name, identity, metric.label);
    append_sample_value(out, value_of(metric));
    append_tail(out, metric.timestamp_ms);
  }
}

void append_label_set(std::string& out,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  bool first = true;
  for (const auto& [label, text] : labels)
    append_label(out, std::exchange(first, false), label, text);
  if (!first) out += '}';
}

void append_sample_line(std::string& out, std::string_view name, const Labels& identity,
                        const Labels& labels, double value, std::int64_t timestamp_ms) {
  out += name;
  bool first = true;
  for (const auto& [label, text] : identity)
    append_label(out, std::exchange(first, false), label, text);
  for (const auto& [label, text] : labels)
    append_label(out, std::exchange(first, false), label, text);
  if (!first) out += '}';
  out += ' ';
  append_sample_value(out, value);
  append_tail(out, timestamp_ms);
}

void append_families(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  for (const auto& family : families) {
    append_family_header(out, family);
    append_family_samples(out, family);
  }
}

}  // namespace pgvigil
