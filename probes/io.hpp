#pragma once
// io: pg_stat_io (16+): reads, writes, extends, hits, evictions, reuses,
// fsyncs and their times per backend type, object and I/O context, under
// postgres_exporter's pg_stat_io_* names, plus bytes on every version (op_bytes
// times the count on 16 and 17; 18's read_bytes, write_bytes, extend_bytes).
// The view has a fixed set of rows; rows with nothing counted are left out.
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class IoProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "io"; }
  config::Duration default_interval() const noexcept override { return config::Duration{30'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_io_probe();

}  // namespace pgvigil
