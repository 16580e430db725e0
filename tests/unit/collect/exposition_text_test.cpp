// The text writer must be byte for byte prometheus-cpp's TextSerializer:
// compared on every metric type, hostile label values and awkward numbers.
#include "collect/exposition_text.hpp"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

const std::vector<double> kAwkward{0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   1.0 / 3.0,
                                   123456789012345678.0,
                                   1e21,
                                   1e-7,
                                   5e-324,
                                   std::numeric_limits<double>::max(),
                                   std::numeric_limits<double>::min(),
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   1700000000.123,
                                   42.0};

const std::vector<std::string> kLabelValues{
    "",          "plain",       "quote\"d",   "back\\slash",
    "new\nline", "\\n literal", "\"\"\\\n\n", "utf-8 \xc3\xa9"};

ClientMetric metric_with(double value, std::size_t index) {
  ClientMetric metric;
  metric.counter.value = value;
  metric.gauge.value = value;
  metric.untyped.value = value;
  if (index % 3 != 0)
    metric.label.push_back({"datname", kLabelValues[index % kLabelValues.size()]});
  if (index % 2 == 0)
    metric.label.push_back({"state", kLabelValues[(index * 7) % kLabelValues.size()]});
  if (index % 5 == 0) metric.timestamp_ms = 1700000000000 + static_cast<std::int64_t>(index);
  return metric;
}

std::string ours(const std::vector<MetricFamily>& families) {
  std::string out;
  pgvigil::append_families(out, families);
  return out;
}

}  // namespace

TEST_CASE("exposition text: counters, gauges and untyped match the library byte for byte") {
  for (auto type : {MetricType::Counter, MetricType::Gauge, MetricType::Untyped}) {
    MetricFamily family;
    family.name = "pg_example";
    family.help = "Help with \"quotes\" and a back\\slash";
    family.type = type;
    for (std::size_t i = 0; i < kAwkward.size(); ++i)
      family.metric.push_back(metric_with(kAwkward[i], i));
    const std::vector<MetricFamily> families{family};
    CHECK(ours(families) == prometheus::TextSerializer().Serialize(families));
  }
}

TEST_CASE("exposition text: random values and an empty help match the library") {
  std::mt19937_64 random(20261203);
  std::uniform_real_distribution<double> exponent(-30, 30);
  MetricFamily family;
  family.name = "pgvigil_random";
  family.type = MetricType::Gauge;
  for (std::size_t i = 0; i < 2000; ++i) {
    const double value = (i % 2 ? -1 : 1) * std::pow(10.0, exponent(random));
    family.metric.push_back(metric_with(i % 4 == 0 ? std::round(value) : value, i));
  }
  const std::vector<MetricFamily> families{family};
  CHECK(ours(families) == prometheus::TextSerializer().Serialize(families));
}

TEST_CASE("exposition text: histograms and summaries match the library") {
  MetricFamily histogram;
  histogram.name = "pgvigil_latency_seconds";
  histogram.help = "Latency";
  histogram.type = MetricType::Histogram;
  ClientMetric h;
  h.label.push_back({"route", "/met\"rics"});
  h.histogram.sample_count = 5;
  h.histogram.sample_sum = 0.25;
  h.histogram.bucket = {{1, 0.005}, {4, 0.1}, {5, 1.0}};
  histogram.metric.push_back(h);
  MetricFamily summary;
  summary.name = "pgvigil_summary";
  summary.type = MetricType::Summary;
  ClientMetric s;
  s.summary.sample_count = 2;
  s.summary.sample_sum = 3.5;
  s.summary.quantile = {{0.5, 1.0}, {0.99, 2.5}};
  summary.metric.push_back(s);
  const std::vector<MetricFamily> families{histogram, summary};
  CHECK(ours(families) == prometheus::TextSerializer().Serialize(families));
}

TEST_CASE("exposition text: identity labels come first, escaped like the others") {
  MetricFamily family;
  family.name = "pg_up";
  family.type = MetricType::Gauge;
  ClientMetric metric;
  metric.gauge.value = 1;
  metric.label.push_back({"state", "idle"});
  family.metric.push_back(metric);
  std::string out;
  pgvigil::append_family_samples(out, family, {{"target", "db\"1"}, {"env", "prod"}});
  CHECK(out == "pg_up{target=\"db\\\"1\",env=\"prod\",state=\"idle\"} 1\n");
}
