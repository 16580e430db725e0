#pragma once
// SampleSink: what a probe writes its results into. It builds prometheus-cpp
// MetricFamily values (the data model only; serialization lives elsewhere).
#include <prometheus/metric_family.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvigil {

using Labels = std::vector<std::pair<std::string, std::string>>;

class SampleSink {
 public:
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  // A state set: one series per state, the current one 1 and the others 0
  // (OpenMetrics StateSet encoded as gauges, as Prometheus users expect).
  void state_set(std::string_view name, std::string_view help, const Labels& labels,
                 std::string_view state_label, std::span<const std::string_view> states,
                 std::string_view current);
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const prometheus::ClientMetric::Histogram& value);

  // Evidence: short text the alert evaluator attaches to an alert that this
  // round's data may trigger (e.g. "logs.last.corruption" -> the masked log
  // line, "activity.top_sessions" -> a table). Never put secrets here.
  void evidence(std::string_view key, std::string text);
  const std::map<std::string, std::string, std::less<>>& evidence() const noexcept {
    return evidence_;
  }
  std::map<std::string, std::string, std::less<>> take_evidence() {
    return std::exchange(evidence_, {});
  }

  bool empty() const noexcept { return families_.empty(); }
  std::size_t sample_count() const noexcept;
  // Drops the samples `keep` rejects, and families left empty.
  void retain_if(const std::function<bool(const prometheus::ClientMetric&)>& keep);
  // Moves the collected families out; the sink is empty afterwards.
  std::vector<prometheus::MetricFamily> take();
  const std::vector<prometheus::MetricFamily>& families() const noexcept { return families_; }

  // Test helpers: find one sample's value by name and exact label set (order-insensitive).
  const prometheus::ClientMetric* find(std::string_view name, const Labels& labels = {}) const;
  std::size_t series_count(std::string_view name) const;

 private:
  prometheus::ClientMetric& add(std::string_view name, std::string_view help,
                                prometheus::MetricType type, const Labels& labels);
  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string, std::less<>> evidence_;
};

// Value of a sample regardless of its type (gauge, counter or untyped).
double sample_value(const prometheus::MetricFamily& family, const prometheus::ClientMetric& metric);

}  // namespace pgvigil
