#pragma once
// vacuum: the tables with the most dead rows in each database
// (pg_stat_user_tables, per database) and tables with autovacuum switched off.
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class VacuumProbe final : public SqlProbe {
 public:
  static constexpr std::size_t kDefaultTopN = 20;
  static constexpr std::size_t kMaxTopN = 1000;

  std::string_view name() const noexcept override { return "vacuum"; }
  config::Duration default_interval() const noexcept override { return config::Duration{300'000}; }
  bool per_database() const noexcept override { return true; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_vacuum_probe();

}  // namespace pgvigil
