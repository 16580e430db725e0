#include "probes/connections.hpp"

#include <optional>

#include "probes/client_sessions.hpp"
#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// The limits need a restart to change, so the values read when the session
// connected (ServerInfo::settings, from pg_settings) are current; only the
// count of client backends comes from the round.
std::optional<double> setting_number(const ServerInfo& server, std::string_view name) {
  return parse_finite_number(server.setting(name));
}

}  // namespace

std::vector<Query> ConnectionsProbe::queries(const ProbeContext& ctx) const {
  return {client_sessions_query(ctx.server)};
}

void ConnectionsProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                               SampleSink& out) {
  report_permission_denied(out, {{"probe", "connections"}}, any_permission_denied(results));
  const auto max_connections = setting_number(ctx.server, "max_connections");
  const auto superuser_reserved = setting_number(ctx.server, "superuser_reserved_connections");
  // Exists from 16 on: absent before, so no sample and no share of the slots.
  const auto reserved = setting_number(ctx.server, "reserved_connections");
  if (max_connections)
    out.gauge("pg_settings_max_connections", "Server Parameter: max_connections", {},
              *max_connections);
  if (superuser_reserved)
    out.gauge("pg_settings_superuser_reserved_connections",
              "Server Parameter: superuser_reserved_connections", {}, *superuser_reserved);
  if (reserved)
    out.gauge("pg_settings_reserved_connections", "Server Parameter: reserved_connections", {},
              *reserved);
  if (results.empty() || !results[0].ok) return;
  const double used = static_cast<double>(results[0].rows.size());  // a row per client backend
  out.gauge("pg_stat_activity_client_connections",
            "Client backends connected, pgvigil's own included", {}, used);

  // The slots an ordinary role can use; reserved_connections counts as 0
  // before 16 (the setting does not exist there).
  if (max_connections && superuser_reserved) {
    const double usable = *max_connections - *superuser_reserved - reserved.value_or(0.0);
    if (usable > 0)
      out.gauge("pg_connections_utilization_ratio",
                "Client connections / (max_connections - superuser_reserved_connections - "
                "reserved_connections)",
                {}, used / usable);
  }
}

std::unique_ptr<SqlProbe> make_connections_probe() {
  return std::make_unique<ConnectionsProbe>();
}

}  // namespace pgvigil
