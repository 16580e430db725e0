#include "collect/metrics_store.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "collect/exposition_text.hpp"

namespace pgvigil {

namespace {

bool same_value(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

bool same_shape(const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
  return a.name == b.name && a.help == b.help && a.type == b.type;
}

bool same_samples(const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
  if (a.metric.size() != b.metric.size()) return false;
  for (std::size_t i = 0; i < a.metric.size(); ++i) {
    const auto& x = a.metric[i];
    const auto& y = b.metric[i];
    if (x.label != y.label || x.timestamp_ms != y.timestamp_ms) return false;
    switch (a.type) {
      case prometheus::MetricType::Counter:
      case prometheus::MetricType::Gauge:
      case prometheus::MetricType::Untyped:
        if (!same_value(sample_value(a, x), sample_value(b, y))) return false;
        break;
      case prometheus::MetricType::Summary: {
        const auto& p = x.summary;
        const auto& q = y.summary;
        if (p.sample_count != q.sample_count || !same_value(p.sample_sum, q.sample_sum) ||
            p.quantile.size() != q.quantile.size())
          return false;
        for (std::size_t k = 0; k < p.quantile.size(); ++k)
          if (!same_value(p.quantile[k].quantile, q.quantile[k].quantile) ||
              !same_value(p.quantile[k].value, q.quantile[k].value))
            return false;
        break;
      }
      case prometheus::MetricType::Histogram: {
        const auto& p = x.histogram;
        const auto& q = y.histogram;
        if (p.sample_count != q.sample_count || !same_value(p.sample_sum, q.sample_sum) ||
            p.bucket.size() != q.bucket.size())
          return false;
        for (std::size_t k = 0; k < p.bucket.size(); ++k)
          if (p.bucket[k].cumulative_count != q.bucket[k].cumulative_count ||
              !same_value(p.bucket[k].upper_bound, q.bucket[k].upper_bound))
            return false;
        break;
      }
    }
  }
  return true;
}

MetricsStore::SerializedFamilyText serialise(const prometheus::MetricFamily& family,
                                             const Labels& identity) {
  MetricsStore::SerializedFamilyText text;
  append_family_header(text.header, family);
  append_family_samples(text.body, family, identity);
  return text;
}

}  // namespace

bool MetricsStore::set(const std::string& target, const std::string& probe,
                       const Labels& target_labels, std::vector<prometheus::MetricFamily> families,
                       Evidence evidence) {
  Labels identity{{"target", target}};
  identity.insert(identity.end(), target_labels.begin(), target_labels.end());
  auto existing = snapshots_.find({target, probe});
  if (existing != snapshots_.end() && existing->second.identity == identity &&
      existing->second.families.size() == families.size()) {
    // The common case for a fleet: the round has the series it had before.
    // Only families whose values moved are rewritten, in place; evidence
    // that moves every round (a session's age) is swapped without touching
    // the text, and the families stay where lookups found them.
    auto& stored = existing->second;
    bool shape = true;
    std::vector<std::size_t> moved;
    for (std::size_t i = 0; shape && i < families.size(); ++i) {
      shape = same_shape(stored.families[i], families[i]);
      if (shape && !same_samples(stored.families[i], families[i])) moved.push_back(i);
    }
    if (shape) {
      const bool new_evidence = stored.evidence != evidence;
      if (moved.empty() && !new_evidence) return false;
      bool input = new_evidence;
      for (auto i : moved) {
        input = input || !volatile_metrics_.contains(families[i].name);
        stored.text[i].body.clear();
        append_family_samples(stored.text[i].body, families[i], identity);
        stored.families[i] = std::move(families[i]);
      }
      if (new_evidence) stored.evidence = std::move(evidence);
      if (!moved.empty()) ++serialisations_;
      changed(target, input);
      return true;
    }
  }
  Snapshot snapshot;
  snapshot.text.reserve(families.size());
  for (const auto& family : families) snapshot.text.push_back(serialise(family, identity));
  snapshot.families = std::move(families);
  snapshot.evidence = std::move(evidence);
  snapshot.identity = std::move(identity);
  snapshots_[{target, probe}] = std::move(snapshot);
  reshaped(target);
  ++serialisations_;
  changed(target, true);
  return true;
}

bool MetricsStore::set(const std::string& target, const std::string& probe,
                       const Labels& target_labels, SampleSink&& round) {
  auto evidence = round.take_evidence();
  return set(target, probe, target_labels, round.take(), std::move(evidence));
}

bool MetricsStore::update_gauge(const std::string& target, const std::string& probe,
                                std::string_view family, double value) {
  auto it = snapshots_.find({target, probe});
  if (it == snapshots_.end()) return false;
  auto& snapshot = it->second;
  for (std::size_t i = 0; i < snapshot.families.size(); ++i) {
    auto& stored = snapshot.families[i];
    if (stored.name != family) continue;
    if (stored.type != prometheus::MetricType::Gauge || stored.metric.size() != 1 ||
        !stored.metric[0].label.empty())
      return false;
    if (same_value(stored.metric[0].gauge.value, value)) return true;
    stored.metric[0].gauge.value = value;
    snapshot.text[i].body.clear();
    append_family_samples(snapshot.text[i].body, stored, snapshot.identity);
    ++serialisations_;
    changed(target, !volatile_metrics_.contains(stored.name));
    return true;
  }
  return false;
}

void MetricsStore::changed(const std::string& target, bool input) {
  ++generation_;
  if (!input) return;
  // One counter for every target keeps a generation unique across targets
  // and across a target that was removed and came back.
  input_generations_[target] = generation_;
}

std::uint64_t MetricsStore::input_generation(const std::string& target) const {
  auto it = input_generations_.find(target);
  return it == input_generations_.end() ? 0 : it->second;
}

void MetricsStore::remove(const std::string& target, const std::string& probe) {
  if (snapshots_.erase({target, probe}) == 0) return;
  reshaped(target);
  changed(target, true);
}

std::size_t MetricsStore::remove_target(const std::string& target) {
  const auto removed =
      std::erase_if(snapshots_, [&](const auto& entry) { return entry.first.first == target; });
  if (removed > 0) changed(target, true);
  reshaped(target);
  input_generations_.erase(target);
  return removed;
}

void MetricsStore::retain_only(const std::string& target, const std::vector<std::string>& probes) {
  const auto removed = std::erase_if(snapshots_, [&](const auto& entry) {
    return entry.first.first == target &&
           std::find(probes.begin(), probes.end(), entry.first.second) == probes.end();
  });
  if (removed == 0) return;
  reshaped(target);
  changed(target, true);
}

std::vector<prometheus::MetricFamily> MetricsStore::Collect() const {
  // The text format wants each family once: merge same-named families, each
  // sample with its snapshot's identity labels in front, as in write_text.
  std::vector<prometheus::MetricFamily> merged;
  std::unordered_map<std::string, std::size_t> index;
  for (const auto& [key, snapshot] : snapshots_) {
    for (const auto& family : snapshot.families) {
      auto [it, inserted] = index.try_emplace(family.name, merged.size());
      if (inserted) {
        merged.push_back(family);
        merged.back().metric.clear();
      }
      for (const auto& metric : family.metric) {
        auto& into = merged[it->second].metric.emplace_back(metric);
        std::vector<prometheus::ClientMetric::Label> labels;
        for (const auto& [name, value] : snapshot.identity) labels.push_back({name, value});
        labels.insert(labels.end(), metric.label.begin(), metric.label.end());
        into.label = std::move(labels);
      }
    }
  }
  return merged;
}

void MetricsStore::write_text(std::string& out) const {
  // Same merge as Collect(): a name's header once, at its first appearance,
  // then the samples of every snapshot that has that family.
  struct Merged {
    const std::string* header;
    std::vector<const std::string*> bodies;
  };
  std::vector<Merged> merged;
  std::unordered_map<std::string_view, std::size_t> index;
  std::size_t size = 0;
  for (const auto& [key, snapshot] : snapshots_) {
    for (std::size_t i = 0; i < snapshot.families.size(); ++i) {
      const auto& serialized = snapshot.text[i];
      auto [it, inserted] = index.try_emplace(snapshot.families[i].name, merged.size());
      if (inserted) {
        merged.push_back({&serialized.header, {}});
        size += serialized.header.size();
      }
      merged[it->second].bodies.push_back(&serialized.body);
      size += serialized.body.size();
    }
  }
  out.reserve(out.size() + size);
  for (const auto& family : merged) {
    out += *family.header;
    for (const auto* body : family.bodies) out += *body;
  }
}

const std::vector<prometheus::MetricFamily>* MetricsStore::families(
    const std::string& target, const std::string& probe) const {
  auto it = snapshots_.find({target, probe});
  return it == snapshots_.end() ? nullptr : &it->second.families;
}

const MetricsStore::Evidence* MetricsStore::evidence(const std::string& target,
                                                     const std::string& probe) const {
  auto it = snapshots_.find({target, probe});
  return it == snapshots_.end() ? nullptr : &it->second.evidence;
}

const MetricsStore::FamilyIndex& MetricsStore::family_index(const std::string& target) const {
  if (auto it = family_indexes_.find(target); it != family_indexes_.end()) return it->second;
  FamilyIndex index;
  for (auto snapshot = snapshots_.lower_bound({target, ""});
       snapshot != snapshots_.end() && snapshot->first.first == target; ++snapshot)
    for (const auto& family : snapshot->second.families) index[family.name].push_back(&family);
  // A target without snapshots (unknown, or removed) gets no entry.
  static const FamilyIndex kNone;
  if (index.empty()) return kNone;
  return family_indexes_.emplace(target, std::move(index)).first->second;
}

std::vector<std::pair<Labels, double>> MetricsStore::samples(const std::string& target,
                                                             std::string_view metric) const {
  std::vector<std::pair<Labels, double>> out;
  const auto& index = family_index(target);
  auto found = index.find(metric);
  if (found == index.end()) return out;
  for (const auto* family : found->second) {
    for (const auto& sample : family->metric) {
      Labels labels;
      labels.reserve(sample.label.size());
      for (const auto& label : sample.label) labels.emplace_back(label.name, label.value);
      out.emplace_back(std::move(labels), sample_value(*family, sample));
    }
  }
  return out;
}

std::vector<std::string> MetricsStore::probes_of(const std::string& target) const {
  std::vector<std::string> out;
  for (auto it = snapshots_.lower_bound({target, ""});
       it != snapshots_.end() && it->first.first == target; ++it)
    out.push_back(it->first.second);
  return out;
}

}  // namespace pgvigil
