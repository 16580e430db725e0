#include "collect/metrics_store.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <unordered_map>

namespace pgvigil {

void MetricsStore::set(const std::string& target, const std::string& probe,
                       const Labels& target_labels, std::vector<prometheus::MetricFamily> families,
                       Evidence evidence) {
  // The exposition text carries the target's identity (target="NAME" and its
  // labels) in front of each sample's own labels; the kept families carry
  // only their own, so lookups for the evaluator need no stripping.
  const std::size_t identity = target_labels.size() + 1;
  for (auto& family : families) {
    for (auto& metric : family.metric) {
      std::vector<prometheus::ClientMetric::Label> labels;
      labels.reserve(metric.label.size() + identity);
      labels.push_back({"target", target});
      for (const auto& [name, value] : target_labels) labels.push_back({name, value});
      for (auto& label : metric.label) labels.push_back(std::move(label));
      metric.label = std::move(labels);
    }
  }
  std::vector<SerializedFamily> text;
  text.reserve(families.size());
  const prometheus::TextSerializer serializer;
  std::vector<prometheus::MetricFamily> one(1);
  for (auto& family : families) {
    // The serializer's output split after its "# TYPE" line.
    one[0] = std::move(family);
    std::string all = serializer.Serialize(one);
    family = std::move(one[0]);
    std::size_t header_end = 0;
    auto type = all.starts_with("# TYPE ") ? 0 : all.find("\n# TYPE ");
    if (type != std::string::npos) {
      if (type != 0) ++type;  // past the newline that ends the HELP line
      const auto newline = all.find('\n', type);
      header_end = newline == std::string::npos ? all.size() : newline + 1;
    }
    text.push_back({all.substr(0, header_end), all.substr(header_end)});
    for (auto& metric : family.metric)
      metric.label.erase(metric.label.begin(),
                         metric.label.begin() + static_cast<std::ptrdiff_t>(identity));
  }
  Labels identity_labels{{"target", target}};
  identity_labels.insert(identity_labels.end(), target_labels.begin(), target_labels.end());
  snapshots_[{target, probe}] = Snapshot{std::move(families), std::move(text), std::move(evidence),
                                         std::move(identity_labels)};
}

void MetricsStore::set(const std::string& target, const std::string& probe,
                       const Labels& target_labels, SampleSink&& round) {
  auto evidence = round.take_evidence();
  set(target, probe, target_labels, round.take(), std::move(evidence));
}

void MetricsStore::remove(const std::string& target, const std::string& probe) {
  snapshots_.erase({target, probe});
}

std::size_t MetricsStore::remove_target(const std::string& target) {
  return std::erase_if(snapshots_, [&](const auto& entry) { return entry.first.first == target; });
}

void MetricsStore::retain_only(const std::string& target, const std::vector<std::string>& probes) {
  std::erase_if(snapshots_, [&](const auto& entry) {
    return entry.first.first == target &&
           std::find(probes.begin(), probes.end(), entry.first.second) == probes.end();
  });
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

std::vector<std::pair<Labels, double>> MetricsStore::samples(const std::string& target,
                                                             std::string_view metric) const {
  std::vector<std::pair<Labels, double>> out;
  for (auto it = snapshots_.lower_bound({target, ""});
       it != snapshots_.end() && it->first.first == target; ++it) {
    for (const auto& family : it->second.families) {
      if (family.name != metric) continue;
      for (const auto& sample : family.metric) {
        Labels labels;
        labels.reserve(sample.label.size());
        for (const auto& label : sample.label) labels.emplace_back(label.name, label.value);
        out.emplace_back(std::move(labels), sample_value(family, sample));
      }
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
