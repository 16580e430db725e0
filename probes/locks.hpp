#pragma once
// locks: heavyweight locks per database and mode (pg_locks), as
// postgres_exporter's pg_locks collector names them (lower-case modes).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class LocksProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "locks"; }
  config::Duration default_interval() const noexcept override { return config::Duration{10'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_locks_probe();

}  // namespace pgvigil
