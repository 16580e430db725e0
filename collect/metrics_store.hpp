#pragma once
// The latest results of every (target, probe) pair. A probe round replaces its
// pair's snapshot whole, so a series that the round did not produce (a dropped
// database, a departed standby) is gone at once: no stale values. /metrics is
// served from here and never touches PostgreSQL. Each snapshot is also kept as
// exposition text, written once when the round lands, so a scrape of many
// targets concatenates strings instead of copying and re-serialising every
// series. A round equal to the one stored changes nothing, not even the text;
// generations tell the exposition cache and the alert evaluator what changed.
// Loop thread only, except TextParts: a body can be assembled from them on
// another thread while the loop goes on storing rounds.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "probes/sample_sink.hpp"

namespace pgvigil {

class MetricsStore : public prometheus::Collectable {
 public:
  using Evidence = std::map<std::string, std::string, std::less<>>;

  // Stores one round. In /metrics every series gets target="NAME" and the
  // target's labels in front of its own; lookups (families, samples) see
  // only its own labels: the target's identity is kept once per snapshot.
  // Returns false (and serialises nothing) when the round equals the stored
  // one: same families, samples, values and evidence.
  bool set(const std::string& target, const std::string& probe, const Labels& target_labels,
           std::vector<prometheus::MetricFamily> families, Evidence evidence = {});
  // The same from a probe's sink: its samples and its evidence.
  bool set(const std::string& target, const std::string& probe, const Labels& target_labels,
           SampleSink&& round);
  // Rewrites the value of a stored family's one unlabelled gauge sample in
  // place (a value that moves every round while nothing else does). False,
  // changing nothing, when there is no such family: store the round whole.
  bool update_gauge(const std::string& target, const std::string& probe, std::string_view family,
                    double value);
  void remove(const std::string& target, const std::string& probe);
  std::size_t remove_target(const std::string& target);
  // Drops every snapshot of a target except the listed probes (a target going
  // down keeps its liveness series and loses the SQL ones).
  void retain_only(const std::string& target, const std::vector<std::string>& probes);

  // One snapshot's exposition text: its families' sample lines back to back
  // (one buffer per snapshot, not one string per family: a 1000-target store
  // has ~300k families) and where each family's lines end.
  struct SnapshotText {
    std::string lines;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ends;  // (family id, end in lines)
  };
  // The store's text as of the moment text_parts() was called, for an
  // assembly on any thread. It holds the snapshots' texts, which the store
  // never changes while someone else holds them (a round that lands meanwhile
  // writes a new text), and the families' headers.
  class TextParts {
   public:
    // Appends the text exposition (0.0.4) of every snapshot: byte for byte
    // what prometheus::TextSerializer makes of Collect(), without building it.
    void assemble(std::string& out) const;

   private:
    friend class MetricsStore;
    std::vector<std::shared_ptr<const SnapshotText>> texts_;   // in snapshot order
    std::shared_ptr<const std::vector<std::string>> headers_;  // by family id
  };

  std::vector<prometheus::MetricFamily> Collect() const override;
  // Cheap: one reference per snapshot, no text copied.
  TextParts text_parts() const;
  // text_parts().assemble(out).
  void write_text(std::string& out) const;

  // Lookups for the alert evaluator and the JSON API.
  const Evidence* evidence(const std::string& target, const std::string& probe) const;
  // Every sample of a metric across a target's probes: (its own labels, value).
  std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                 std::string_view metric) const;
  std::vector<std::string> probes_of(const std::string& target) const;

  // Metrics whose value moves every round and that no alert rule reads (the
  // liveness round trip): a round that changes only these rewrites their
  // lines but leaves the target's input generation alone.
  void set_volatile_metrics(std::set<std::string, std::less<>> names) {
    volatile_metrics_ = std::move(names);
  }
  // Moves on every change of any snapshot's series (what /metrics serves).
  std::uint64_t generation() const noexcept { return generation_; }
  // Moves when a target's snapshots change other than in volatile metrics
  // and evidence (what the alert rules read); 0 for a target never stored.
  std::uint64_t input_generation(const std::string& target) const;
  // Snapshots serialised to text so far (rounds that changed something).
  std::uint64_t serialisations() const noexcept { return serialisations_; }

 private:
  // A stored family: its name as an interned id and its samples in a compact
  // form (own labels, value, timestamp), about a third of prometheus-cpp's
  // ClientMetric with its five value kinds; a 1000-target fleet keeps ~330k.
  // Histograms and summaries (no probe of pgvigil's makes them) keep the
  // library's form.
  struct StoredSample {
    Labels labels;
    double value = 0;
    std::int64_t timestamp_ms = 0;
  };
  struct StoredFamily {
    std::uint32_t id = 0;
    std::vector<StoredSample> samples;
    std::vector<prometheus::ClientMetric> other;  // histogram or summary samples
  };
  struct Snapshot {
    std::vector<StoredFamily> families;
    // Never null once stored; shared with TextParts, written in place only
    // while no TextParts holds it.
    std::shared_ptr<SnapshotText> text;
    Evidence evidence;
    Labels identity;  // target="NAME" and the target's labels
  };
  // What a family's id stands for, kept once per name, not per snapshot; ids
  // let an assembly merge same-named families of every snapshot by indexing,
  // not hashing (a 1000-target body has ~300k families). Only grows: there
  // are a few hundred names. Their # HELP and # TYPE lines are in headers_.
  struct FamilyName {
    std::string name;
    std::string help;
    prometheus::MetricType type;
  };
  std::uint32_t intern(const prometheus::MetricFamily& family);
  StoredFamily store_family(prometheus::MetricFamily&& family);
  bool same_samples(const StoredFamily& stored, const prometheus::MetricFamily& family) const;
  void serialise(std::string& out, const StoredFamily& family, const Labels& identity) const;
  // Writes the snapshot's text again: every family when `moved` is null,
  // else only those it lists, in ascending order (the others' lines are
  // copied).
  void write_snapshot_text(Snapshot& snapshot, const std::vector<std::size_t>* moved) const;
  void changed(const std::string& target, bool input);
  // Erases the target's snapshots except those of the probes in `keep`.
  std::size_t erase_snapshots(const std::string& target, const std::vector<std::string>& keep);
  // Where each metric's families are among a target's snapshots, for lookups
  // (an alert evaluation asks for dozens of metrics per target): built at the
  // first lookup after the target's snapshots were added, replaced or removed.
  // A round rewritten in place keeps its families where they were.
  using FamilyIndex = std::map<std::string, std::vector<const StoredFamily*>, std::less<>>;
  const FamilyIndex& family_index(const std::string& target) const;
  void reshaped(const std::string& target) { family_indexes_.erase(target); }

  std::map<std::pair<std::string, std::string>, Snapshot> snapshots_;
  std::set<std::string, std::less<>> volatile_metrics_;
  std::map<std::string, std::uint64_t, std::less<>> input_generations_;
  mutable std::map<std::string, FamilyIndex, std::less<>> family_indexes_;
  std::map<std::string, std::uint32_t, std::less<>> family_ids_;
  std::vector<FamilyName> names_;  // by id
  // Shared with TextParts; appended to in place only while no one holds it.
  std::shared_ptr<std::vector<std::string>> headers_ = std::make_shared<std::vector<std::string>>();
  std::uint64_t generation_ = 0;
  std::uint64_t serialisations_ = 0;
};

}  // namespace pgvigil
