#pragma once
// wal: WAL generation (pg_stat_wal, 14+), the primary's current WAL position,
// the timeline of the last checkpoint, and the size of pg_wal
// (pg_ls_waldir(), which needs pg_monitor).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class WalProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "wal"; }
  config::Duration default_interval() const noexcept override { return config::Duration{15'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_wal_probe();

}  // namespace pgvigil
