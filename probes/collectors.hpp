#pragma once
// collectors: a custom SQL collector ([[collector]], docs/collectors.md). Its
// query's rows become series: label columns label them, gauge and counter
// columns are values (<collector>_<column>), NULL gives no sample. Run
// read-only under its own statement_timeout; rows and series past the
// collector's caps are dropped and counted, never silently. An expectation on
// a column is checked per series, with the semantics of [[target.check]].
#include <map>
#include <memory>
#include <string>

#include "probes/probe.hpp"

namespace pgvigil {

// The first branch whose [min_version, max_version] holds version_num (max 0:
// no upper bound), or nullptr: no query, no sample.
const config::CollectorBranch* select_branch(const config::CollectorConfig& collector,
                                             int version_num) noexcept;

class CollectorProbe final : public SqlProbe {
 public:
  explicit CollectorProbe(config::CollectorConfig collector);

  std::string_view name() const noexcept override { return name_; }
  config::Duration default_interval() const noexcept override { return collector_.interval; }
  bool per_database() const noexcept override { return collector_.walks_databases(); }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;

  const config::CollectorConfig& collector() const noexcept { return collector_; }

 private:
  // The round's error ("" when none) for one database, logged once per change.
  void note_state(const ProbeContext& ctx, const std::string& error);

  config::CollectorConfig collector_;
  std::string name_;  // "collector:NAME"
  // Dropped rows and series, by database ("" = the target's own) and reason.
  std::map<std::pair<std::string, std::string>, double> dropped_;
  std::map<std::string, bool> failing_;  // by database, for the log lines
};

}  // namespace pgvigil
