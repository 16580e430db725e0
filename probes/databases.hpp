#pragma once
// databases: per-database size, activity counters (pg_stat_database),
// transaction ID wraparound headroom, the expected databases' presence and,
// on a standby, queries cancelled by recovery conflicts
// (pg_stat_database_conflicts).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class DatabasesProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "databases"; }
  config::Duration default_interval() const noexcept override { return config::Duration{60'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_databases_probe();

// Transaction IDs are 32-bit and compared modulo 2^32, so a database whose
// datfrozenxid age reaches 2^31 would see its past as future: the server stops
// assigning XIDs (about 3 million) before that hard limit. Fractions are of 2^31.
inline constexpr double kWraparoundLimit = 2147483648.0;

}  // namespace pgvigil
