#pragma once
// statements: the most expensive statements from pg_stat_statements, top N by
// total time plus top N by mean time, named like postgres_exporter's
// pg_stat_statements collector. No query text in labels: texts go to evidence.
// Keeps each statement's totals from the previous round, so that the mean
// time of its recent calls can be set against its lifetime mean (a query
// that got slower: the runbooks' "query performance degradation").
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "probes/probe.hpp"

namespace pgvigil {

class StatementsProbe final : public SqlProbe {
 public:
  static constexpr std::size_t kDefaultTopN = 10;
  static constexpr std::size_t kMaxTopN = 500;

  std::string_view name() const noexcept override { return "statements"; }
  config::Duration default_interval() const noexcept override { return config::Duration{60'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;

 private:
  struct Totals {
    double calls = 0;
    double seconds = 0;
  };
  // queryid, datname, user -> totals at the previous round (top N only).
  std::map<std::string, Totals> previous_;
};

std::unique_ptr<SqlProbe> make_statements_probe();

}  // namespace pgvigil
