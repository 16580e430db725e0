#pragma once
// activity: what client sessions are doing right now (pg_stat_activity),
// modelled on postgres_exporter's pg_stat_activity metrics plus the durations
// the alerts need (idle in transaction, long queries, lock waits).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class ActivityProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "activity"; }
  config::Duration default_interval() const noexcept override { return config::Duration{5'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_activity_probe();

}  // namespace pgvigil
