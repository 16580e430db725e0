#include "probes/connections.hpp"

#include <fmt/format.h>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// reserved_connections (slots for pg_use_reserved_connections) exists from 16 on.
constexpr std::string_view kConnectionsSql = R"sql(
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
       {reserved} AS reserved_connections,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
         AS client_connections)sql";

constexpr std::string_view kReservedSince16 = "current_setting('reserved_connections')::int";
constexpr std::string_view kReservedBefore16 = "NULL::int";

}  // namespace

std::vector<Query> ConnectionsProbe::queries(const ProbeContext& ctx) const {
  const bool has_reserved = ctx.server.version_num >= 160000;
  return {{"connections",
           fmt::format(fmt::runtime(kConnectionsSql),
                       fmt::arg("reserved", has_reserved ? kReservedSince16 : kReservedBefore16))}};
}

void ConnectionsProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                               SampleSink& out) {
  report_permission_denied(out, {{"probe", "connections"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok || results[0].rows.empty()) return;
  const auto& result = results[0];

  auto max_connections = result.number(0, "max_connections");
  auto superuser_reserved = result.number(0, "superuser_reserved_connections");
  auto reserved = result.number(0, "reserved_connections");
  auto used = result.number(0, "client_connections");
  if (max_connections)
    out.gauge("pg_settings_max_connections", "Server Parameter: max_connections", {},
              *max_connections);
  if (superuser_reserved)
    out.gauge("pg_settings_superuser_reserved_connections",
              "Server Parameter: superuser_reserved_connections", {}, *superuser_reserved);
  if (reserved)
    out.gauge("pg_settings_reserved_connections", "Server Parameter: reserved_connections", {},
              *reserved);
  if (used)
    out.gauge("pg_stat_activity_client_connections",
              "Client backends connected, pgvigil's own included", {}, *used);

  // The slots an ordinary role can use; reserved_connections counts as 0
  // before 16 (the setting does not exist there).
  if (max_connections && superuser_reserved && used) {
    const double usable = *max_connections - *superuser_reserved - reserved.value_or(0.0);
    if (usable > 0)
      out.gauge("pg_connections_utilization_ratio",
                "Client connections / (max_connections - superuser_reserved_connections - "
                "reserved_connections)",
                {}, *used / usable);
  }
}

std::unique_ptr<SqlProbe> make_connections_probe() {
  return std::make_unique<ConnectionsProbe>();
}

}  // namespace pgvigil
