#pragma once
// bgwriter: checkpoints and the background writer (pg_stat_bgwriter), under
// postgres_exporter's names. PostgreSQL 17 moved the checkpoint counters to
// pg_stat_checkpointer and dropped buffers_backend; until rows recorded from
// a 17 server back that branch, 17+ gets no query (no sample, no error).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class BgwriterProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "bgwriter"; }
  config::Duration default_interval() const noexcept override { return config::Duration{15'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_bgwriter_probe();

}  // namespace pgvigil
