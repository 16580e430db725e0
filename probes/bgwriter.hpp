#pragma once
// bgwriter: checkpoints and the background writer under postgres_exporter's
// pg_stat_bgwriter_* names on every version: from pg_stat_bgwriter up to 16,
// from pg_stat_checkpointer + pg_stat_bgwriter on 17+ (which also gives the
// restartpoint counters; buffers_backend* no longer exist there: no sample).
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
