#pragma once
// indexes: per database, the largest indexes with their use
// (pg_stat_user_indexes), indexes never scanned since the statistics were
// reset, and a statistical bloat estimate for tables and B-tree indexes
// computed from pg_class and pg_stats (no extension; docs/metrics.md says how).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class IndexesProbe final : public SqlProbe {
 public:
  // Per database and list: up to 5 series per index of the largest N, 1 per
  // unused index and 2 per bloated table or index (docs/metrics.md).
  static constexpr std::size_t kDefaultTopN = 10;
  static constexpr std::size_t kMaxTopN = 1000;
  // Relations smaller than this many pages are left out of the bloat
  // estimate: a few pages of slack there is noise, not bloat.
  static constexpr int kBloatMinPages = 8;

  std::string_view name() const noexcept override { return "indexes"; }
  config::Duration default_interval() const noexcept override { return config::Duration{300'000}; }
  bool per_database() const noexcept override { return true; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_indexes_probe();

}  // namespace pgvigil
