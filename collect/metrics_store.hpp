#pragma once
// The latest results of every (target, probe) pair. A probe round replaces its
// pair's snapshot whole, so a series that the round did not produce (a dropped
// database, a departed standby) is gone at once: no stale values. /metrics is
// served from here and never touches PostgreSQL. Each snapshot is also kept as
// exposition text, written once when the round lands, so a scrape of many
// targets concatenates strings instead of copying and re-serialising every
// series. Loop thread only.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <map>
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
  void set(const std::string& target, const std::string& probe, const Labels& target_labels,
           std::vector<prometheus::MetricFamily> families, Evidence evidence = {});
  // The same from a probe's sink: its samples and its evidence.
  void set(const std::string& target, const std::string& probe, const Labels& target_labels,
           SampleSink&& round);
  void remove(const std::string& target, const std::string& probe);
  std::size_t remove_target(const std::string& target);
  // Drops every snapshot of a target except the listed probes (a target going
  // down keeps its liveness series and loses the SQL ones).
  void retain_only(const std::string& target, const std::vector<std::string>& probes);

  std::vector<prometheus::MetricFamily> Collect() const override;
  // Appends the text exposition (0.0.4) of every snapshot: byte for byte what
  // prometheus::TextSerializer makes of Collect(), without building it.
  void write_text(std::string& out) const;

  // Lookups for the alert evaluator and the JSON API.
  const std::vector<prometheus::MetricFamily>* families(const std::string& target,
                                                        const std::string& probe) const;
  const Evidence* evidence(const std::string& target, const std::string& probe) const;
  // Every sample of a metric across a target's probes: (its own labels, value).
  std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                 std::string_view metric) const;
  std::vector<std::string> probes_of(const std::string& target) const;

 private:
  struct SerializedFamily {
    std::string header;  // the # HELP and # TYPE lines
    std::string body;    // the sample lines
  };
  struct Snapshot {
    std::vector<prometheus::MetricFamily> families;
    std::vector<SerializedFamily> text;  // one per family, same order
    Evidence evidence;
    Labels identity;  // target="NAME" and the target's labels
  };
  std::map<std::pair<std::string, std::string>, Snapshot> snapshots_;
};

}  // namespace pgvigil
