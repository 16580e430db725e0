#include "collect/metrics_store.hpp"

#include <algorithm>
#include <cmath>

#include "collect/exposition_text.hpp"

namespace pgvigil {

namespace {

bool same_value(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

bool same_labels(const Labels& stored, const std::vector<prometheus::ClientMetric::Label>& labels) {
  return stored.size() == labels.size() &&
         std::equal(stored.begin(), stored.end(), labels.begin(), [](const auto& a, const auto& b) {
           return a.first == b.name && a.second == b.value;
         });
}

bool same_complex_sample(prometheus::MetricType type, const prometheus::ClientMetric& x,
                         const prometheus::ClientMetric& y) {
  if (x.label != y.label || x.timestamp_ms != y.timestamp_ms) return false;
  if (type == prometheus::MetricType::Summary) {
    const auto& p = x.summary;
    const auto& q = y.summary;
    if (p.sample_count != q.sample_count || !same_value(p.sample_sum, q.sample_sum) ||
        p.quantile.size() != q.quantile.size())
      return false;
    for (std::size_t k = 0; k < p.quantile.size(); ++k)
      if (!same_value(p.quantile[k].quantile, q.quantile[k].quantile) ||
          !same_value(p.quantile[k].value, q.quantile[k].value))
        return false;
    return true;
  }
  const auto& p = x.histogram;
  const auto& q = y.histogram;
  if (p.sample_count != q.sample_count || !same_value(p.sample_sum, q.sample_sum) ||
      p.bucket.size() != q.bucket.size())
    return false;
  for (std::size_t k = 0; k < p.bucket.size(); ++k)
    if (p.bucket[k].cumulative_count != q.bucket[k].cumulative_count ||
        !same_value(p.bucket[k].upper_bound, q.bucket[k].upper_bound))
      return false;
  return true;
}

bool is_complex(prometheus::MetricType type) {
  return type == prometheus::MetricType::Histogram || type == prometheus::MetricType::Summary;
}

}  // namespace

void MetricsStore::write_snapshot_text(Snapshot& snapshot,
                                       const std::vector<std::size_t>* moved) const {
  const SnapshotText* old = snapshot.text.get();
  SnapshotText text;
  text.lines.reserve(old ? old->lines.size() + old->lines.size() / 4 : 0);
  text.ends.reserve(snapshot.families.size());
  std::size_t next_moved = 0;
  for (std::size_t i = 0; i < snapshot.families.size(); ++i) {
    const bool rewrite =
        !old || !moved || (next_moved < moved->size() && (*moved)[next_moved] == i);
    if (old && moved && rewrite) ++next_moved;
    if (rewrite) {
      serialise(text.lines, snapshot.families[i], snapshot.identity);
    } else {
      // Same shape as before: family i's lines are old piece i.
      const std::uint32_t begin = i == 0 ? 0 : old->ends[i - 1].second;
      text.lines.append(old->lines, begin, old->ends[i].second - begin);
    }
    text.ends.emplace_back(snapshot.families[i].id, static_cast<std::uint32_t>(text.lines.size()));
  }
  if (snapshot.text && snapshot.text.use_count() == 1) {
    *snapshot.text = std::move(text);
  } else {
    snapshot.text = std::make_shared<SnapshotText>(std::move(text));
  }
}

bool MetricsStore::set(const std::string& target, const std::string& probe,
                       const Labels& target_labels, std::vector<prometheus::MetricFamily> families,
                       Evidence evidence) {
  // The identity labels: target, then the target's own. Compared in place
  // (built only for a new snapshot): a round per target a second.
  const auto same_identity = [&](const Labels& stored) {
    return stored.size() == target_labels.size() + 1 && stored[0].first == "target" &&
           stored[0].second == target &&
           std::equal(target_labels.begin(), target_labels.end(), stored.begin() + 1);
  };
  auto existing = snapshots_.find({target, probe});
  if (existing != snapshots_.end() && same_identity(existing->second.identity) &&
      existing->second.families.size() == families.size()) {
    // The common case for a fleet: the round has the series it had before.
    // Only families whose values moved are rewritten, in place; evidence
    // that moves every round (a session's age) is swapped without touching
    // the text, and the families stay where lookups found them.
    auto& stored = existing->second;
    bool shape = true;
    std::vector<std::size_t> moved;
    for (std::size_t i = 0; shape && i < families.size(); ++i) {
      const auto& name = names_[stored.families[i].id];
      shape = name.name == families[i].name && name.type == families[i].type;
      if (shape && !same_samples(stored.families[i], families[i])) moved.push_back(i);
    }
    if (shape) {
      const bool new_evidence = stored.evidence != evidence;
      if (moved.empty() && !new_evidence) return false;
      // Evidence is neither text nor rule input (alerts read it when they
      // fire): new evidence alone is swapped and moves no generation.
      if (new_evidence) stored.evidence = std::move(evidence);
      if (moved.empty()) return true;
      bool input = false;
      for (auto i : moved) {
        input = input || !volatile_metrics_.contains(families[i].name);
        stored.families[i] = store_family(std::move(families[i]));
      }
      write_snapshot_text(stored, &moved);
      ++serialisations_;
      changed(target, input);
      return true;
    }
  }
  Labels identity{{"target", target}};
  identity.insert(identity.end(), target_labels.begin(), target_labels.end());
  Snapshot snapshot;
  snapshot.families.reserve(families.size());
  for (auto& family : families) snapshot.families.push_back(store_family(std::move(family)));
  snapshot.evidence = std::move(evidence);
  snapshot.identity = std::move(identity);
  write_snapshot_text(snapshot, nullptr);
  snapshots_[{target, probe}] = std::move(snapshot);
  reshaped(target);
  ++serialisations_;
  changed(target, true);
  return true;
}

std::uint32_t MetricsStore::intern(const prometheus::MetricFamily& family) {
  // A name's first family gives its help and type: the format allows one of
  // each per name.
  auto [it, inserted] =
      family_ids_.try_emplace(family.name, static_cast<std::uint32_t>(names_.size()));
  if (inserted) {
    auto& name = names_.emplace_back();
    name.name = family.name;
    name.help = family.help;
    name.type = family.type;
    // An assembly may hold the headers: it keeps its copy, we go on with ours.
    if (headers_.use_count() > 1) headers_ = std::make_shared<std::vector<std::string>>(*headers_);
    append_family_header(headers_->emplace_back(), family);
  }
  return it->second;
}

MetricsStore::StoredFamily MetricsStore::store_family(prometheus::MetricFamily&& family) {
  StoredFamily stored;
  stored.id = intern(family);
  if (is_complex(family.type)) {
    stored.other = std::move(family.metric);
    return stored;
  }
  stored.samples.reserve(family.metric.size());
  for (auto& metric : family.metric) {
    auto& sample = stored.samples.emplace_back();
    sample.labels.reserve(metric.label.size());
    for (auto& label : metric.label)
      sample.labels.emplace_back(std::move(label.name), std::move(label.value));
    sample.value = sample_value(family, metric);
    sample.timestamp_ms = metric.timestamp_ms;
  }
  return stored;
}

bool MetricsStore::same_samples(const StoredFamily& stored,
                                const prometheus::MetricFamily& family) const {
  if (is_complex(family.type)) {
    return stored.other.size() == family.metric.size() &&
           std::equal(stored.other.begin(), stored.other.end(), family.metric.begin(),
                      [&](const auto& x, const auto& y) {
                        return same_complex_sample(family.type, x, y);
                      });
  }
  if (stored.samples.size() != family.metric.size()) return false;
  for (std::size_t i = 0; i < family.metric.size(); ++i) {
    const auto& x = stored.samples[i];
    const auto& y = family.metric[i];
    if (x.timestamp_ms != y.timestamp_ms || !same_value(x.value, sample_value(family, y)) ||
        !same_labels(x.labels, y.label))
      return false;
  }
  return true;
}

void MetricsStore::serialise(std::string& out, const StoredFamily& family,
                             const Labels& identity) const {
  const auto& name = names_[family.id];
  if (!family.other.empty()) {
    prometheus::MetricFamily complex{name.name, name.help, name.type, family.other};
    append_family_samples(out, complex, identity);
    return;
  }
  for (const auto& sample : family.samples)
    append_sample_line(out, name.name, identity, sample.labels, sample.value, sample.timestamp_ms);
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
    const auto& name = names_[stored.id];
    if (name.name != family) continue;
    if (name.type != prometheus::MetricType::Gauge || stored.samples.size() != 1 ||
        !stored.samples[0].labels.empty())
      return false;
    if (same_value(stored.samples[0].value, value)) return true;
    stored.samples[0].value = value;
    const std::vector<std::size_t> moved{i};
    write_snapshot_text(snapshot, &moved);
    ++serialisations_;
    changed(target, !volatile_metrics_.contains(name.name));
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

std::size_t MetricsStore::erase_snapshots(const std::string& target,
                                          const std::vector<std::string>& keep) {
  // Only the target's own range of the map: a server restart takes down a
  // hundred targets at once, and a scan of every snapshot per target was
  // quadratic in the fleet.
  std::size_t removed = 0;
  auto it = snapshots_.lower_bound({target, ""});
  while (it != snapshots_.end() && it->first.first == target) {
    if (std::find(keep.begin(), keep.end(), it->first.second) != keep.end()) {
      ++it;
      continue;
    }
    it = snapshots_.erase(it);
    ++removed;
  }
  return removed;
}

std::size_t MetricsStore::remove_target(const std::string& target) {
  const auto removed = erase_snapshots(target, {});
  if (removed > 0) changed(target, true);
  reshaped(target);
  input_generations_.erase(target);
  return removed;
}

void MetricsStore::retain_only(const std::string& target, const std::vector<std::string>& probes) {
  if (erase_snapshots(target, probes) == 0) return;
  reshaped(target);
  changed(target, true);
}

std::vector<prometheus::MetricFamily> MetricsStore::Collect() const {
  // The text format wants each family once: merge same-named families, each
  // sample with its snapshot's identity labels in front, as in write_text.
  std::vector<prometheus::MetricFamily> merged;
  std::vector<std::size_t> position(names_.size(), names_.size());
  for (const auto& [key, snapshot] : snapshots_) {
    for (const auto& family : snapshot.families) {
      if (position[family.id] == names_.size()) {
        position[family.id] = merged.size();
        const auto& name = names_[family.id];
        merged.push_back({name.name, name.help, name.type, {}});
      }
      auto& into = merged[position[family.id]];
      // The identity by name: clang 14 cannot capture a structured binding.
      const auto with_identity = [&identity = snapshot.identity](prometheus::ClientMetric& metric,
                                                                 const auto& own) {
        metric.label.clear();
        for (const auto& [label, value] : identity) metric.label.push_back({label, value});
        for (const auto& [label, value] : own) metric.label.push_back({label, value});
      };
      for (const auto& other : family.other) {
        auto& metric = into.metric.emplace_back(other);
        std::vector<std::pair<std::string, std::string>> own;
        for (const auto& label : other.label) own.emplace_back(label.name, label.value);
        with_identity(metric, own);
      }
      for (const auto& sample : family.samples) {
        auto& metric = into.metric.emplace_back();
        with_identity(metric, sample.labels);
        metric.timestamp_ms = sample.timestamp_ms;
        switch (into.type) {
          case prometheus::MetricType::Counter:
            metric.counter.value = sample.value;
            break;
          case prometheus::MetricType::Gauge:
            metric.gauge.value = sample.value;
            break;
          default:
            metric.untyped.value = sample.value;
            break;
        }
      }
    }
  }
  return merged;
}

MetricsStore::TextParts MetricsStore::text_parts() const {
  TextParts parts;
  parts.texts_.reserve(snapshots_.size());
  for (const auto& [key, snapshot] : snapshots_) parts.texts_.push_back(snapshot.text);
  parts.headers_ = headers_;
  return parts;
}

void MetricsStore::write_text(std::string& out) const {
  text_parts().assemble(out);
}

void MetricsStore::TextParts::assemble(std::string& out) const {
  // Same merge as Collect(): a name's header once, at its first appearance,
  // then that family's lines from every snapshot, in snapshot order. Pass 1
  // counts each family's pieces; pass 2 files them by family in one array.
  const auto& headers = *headers_;
  std::vector<std::uint32_t> first(headers.size(), 0);  // per id: its range's start, then cursor
  std::vector<std::uint32_t> count(headers.size(), 0);
  std::vector<std::uint32_t> order;  // ids by first appearance
  std::size_t pieces = 0;
  std::size_t size = 0;
  for (const auto& text : texts_) {
    for (const auto& [id, end] : text->ends) {
      if (count[id]++ == 0) {
        order.push_back(id);
        size += headers[id].size();
      }
      ++pieces;
    }
    size += text->lines.size();
  }
  std::uint32_t start = 0;
  for (const auto id : order) {
    first[id] = start;
    start += count[id];
  }
  std::vector<std::string_view> filed(pieces);
  for (const auto& text : texts_) {
    std::uint32_t begin = 0;
    for (const auto& [id, end] : text->ends) {
      filed[first[id]++] = std::string_view(text->lines).substr(begin, end - begin);
      begin = end;
    }
  }
  out.reserve(out.size() + size);
  std::size_t next = 0;
  for (const auto id : order) {
    out += headers[id];
    for (const auto stop = next + count[id]; next < stop; ++next) out += filed[next];
  }
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
    for (const auto& family : snapshot->second.families)
      index[names_[family.id].name].push_back(&family);
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
  for (const auto* family : found->second)
    for (const auto& sample : family->samples) out.emplace_back(sample.labels, sample.value);
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
