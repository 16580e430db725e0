#pragma once
// connections: how close the server is to refusing new client connections.
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

class ConnectionsProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "connections"; }
  config::Duration default_interval() const noexcept override { return config::Duration{5'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_connections_probe();

}  // namespace pgvigil
