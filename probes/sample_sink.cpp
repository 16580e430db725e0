#include "probes/sample_sink.hpp"

#include <algorithm>

namespace pgvigil {

namespace {
// The text format escapes backslash and newline in HELP; prometheus-cpp's
// serializer does not, and a raw newline would break the exposition.
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}
}  // namespace

prometheus::ClientMetric& SampleSink::add(std::string_view name, std::string_view help,
                                          prometheus::MetricType type, const Labels& labels) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    prometheus::MetricFamily family;
    family.name = std::string(name);
    family.help = escape_help(help);
    family.type = type;
    families_.push_back(std::move(family));
    it = index_.emplace(std::string(name), families_.size() - 1).first;
  }
  auto& family = families_[it->second];
  auto& metric = family.metric.emplace_back();
  metric.label.reserve(labels.size());
  for (const auto& [key, value] : labels) metric.label.push_back({key, value});
  return metric;
}

void SampleSink::gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

void SampleSink::counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  add(name, help, prometheus::MetricType::Counter, labels).counter.value = value;
}

void SampleSink::state_set(std::string_view name, std::string_view help, const Labels& labels,
                           std::string_view state_label, std::span<const std::string_view> states,
                           std::string_view current) {
  for (auto state : states) {
    Labels with_state = labels;
    with_state.emplace_back(std::string(state_label), std::string(state));
    gauge(name, help, with_state, state == current ? 1.0 : 0.0);
  }
}

void SampleSink::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const prometheus::ClientMetric::Histogram& value) {
  add(name, help, prometheus::MetricType::Histogram, labels).histogram = value;
}

void SampleSink::evidence(std::string_view key, std::string text) {
  evidence_.insert_or_assign(std::string(key), std::move(text));
}

std::size_t SampleSink::sample_count() const noexcept {
  std::size_t n = 0;
  for (const auto& family : families_) n += family.metric.size();
  return n;
}

void SampleSink::retain_if(const std::function<bool(const prometheus::ClientMetric&)>& keep) {
  for (auto& family : families_)
    std::erase_if(family.metric, [&](const prometheus::ClientMetric& m) { return !keep(m); });
  std::erase_if(families_, [](const prometheus::MetricFamily& f) { return f.metric.empty(); });
  index_.clear();
  for (std::size_t i = 0; i < families_.size(); ++i) index_[families_[i].name] = i;
}

std::vector<prometheus::MetricFamily> SampleSink::take() {
  index_.clear();
  return std::exchange(families_, {});
}

static bool same_labels(const std::vector<prometheus::ClientMetric::Label>& have,
                        const Labels& want) {
  if (have.size() != want.size()) return false;
  return std::all_of(want.begin(), want.end(), [&](const auto& kv) {
    return std::any_of(have.begin(), have.end(), [&](const auto& label) {
      return label.name == kv.first && label.value == kv.second;
    });
  });
}

const prometheus::ClientMetric* SampleSink::find(std::string_view name,
                                                 const Labels& labels) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  for (const auto& metric : families_[it->second].metric)
    if (same_labels(metric.label, labels)) return &metric;
  return nullptr;
}

std::size_t SampleSink::series_count(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? 0 : families_[it->second].metric.size();
}

double sample_value(const prometheus::MetricFamily& family,
                    const prometheus::ClientMetric& metric) {
  switch (family.type) {
    case prometheus::MetricType::Counter:
      return metric.counter.value;
    case prometheus::MetricType::Gauge:
      return metric.gauge.value;
    case prometheus::MetricType::Untyped:
      return metric.untyped.value;
    default:
      return metric.histogram.sample_sum;
  }
}

}  // namespace pgvigil
