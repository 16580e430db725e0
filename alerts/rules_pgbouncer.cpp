// pgbouncer targets (kind = "pgbouncer"): down with its reason, clients
// waiting for a server connection, a pool using all its server connections
// (alerts/tests/pgbouncer.yml). Thresholds and their reasons: docs/pgbouncer.md.
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

// The value of `metric` for one pool (database, user) of this target.
std::optional<double> pool_value(const RuleContext& ctx, std::string_view metric,
                                 const std::string& database, const std::string& user) {
  for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, metric))
    if (label_value(labels, "database") == database && label_value(labels, "user") == user)
      return value;
  return std::nullopt;
}

struct PoolLimit {
  double pool_size = 0;
  std::string pool_mode;
};

// SHOW DATABASES' pool_size (per user) of the database a pool belongs to.
std::optional<PoolLimit> pool_limit(const RuleContext& ctx, const std::string& database) {
  for (const auto& [labels, value] :
       ctx.source.samples(ctx.target.name, "pgbouncer_databases_pool_size"))
    if (label_value(labels, "name") == database)
      return PoolLimit{value, label_value(labels, "pool_mode")};
  return std::nullopt;
}

std::string count(std::optional<double> value) {
  return value ? number(*value) : std::string("-");
}

// What an operator needs to see about a pool under pressure: who waits, how
// long, and what its server connections are doing against its limit.
std::string pool_evidence(const RuleContext& ctx, const std::string& database,
                          const std::string& user) {
  const auto limit = pool_limit(ctx, database);
  const auto active = pool_value(ctx, "pgbouncer_pools_server_active_connections", database, user);
  return "pool: " + database + "/" + user + (limit ? " (pool_mode " + limit->pool_mode + ")" : "") +
         "\nwaiting clients: " +
         count(pool_value(ctx, "pgbouncer_pools_client_waiting_connections", database, user)) +
         "\nlongest wait: " +
         count(pool_value(ctx, "pgbouncer_pools_client_maxwait_seconds", database, user)) +
         " s\nactive clients: " +
         count(pool_value(ctx, "pgbouncer_pools_client_active_connections", database, user)) +
         "\nserver connections in use: " + count(active) + " of pool_size " +
         (limit ? number(limit->pool_size) : std::string("-")) + " (idle " +
         count(pool_value(ctx, "pgbouncer_pools_server_idle_connections", database, user)) +
         ", logging in " +
         count(pool_value(ctx, "pgbouncer_pools_server_login_connections", database, user)) + ")\n";
}

// pool_size per database, renamed so it matches the pools' `database` label.
std::string pool_size_by_database(const PromContext& p) {
  return "label_replace(max by (target, name) (" + p.select("pgbouncer_databases_pool_size") +
         " > 0), \"database\", \"$1\", \"name\", \"(.*)\")";
}

}  // namespace

std::vector<RuleDefinition> pgbouncer_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "PgbouncerDown",
      .severity = "critical",
      .default_for = 30s,
      .summary = "pgbouncer {{ $labels.target }} is down ({{ $labels.reason }})",
      .description = "pgvigil cannot log in to the admin console of pgbouncer "
                     "{{ $labels.target }} and get its SHOW commands answered within the "
                     "timeout; the round fails with reason {{ $labels.reason }}. Clients that "
                     "connect through it are probably failing too.",
      .condition = "pgbouncer_up == 0, with the classified failure (pgbouncer_connection_failure)",
      .rule_labels = "reason",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            for (const auto& [labels, value] :
                 ctx.source.samples(ctx.target.name, "pgbouncer_up")) {
              if (value != 0) continue;
              Finding finding;
              auto reason = current_state(ctx, "pgbouncer_connection_failure", "reason");
              if (reason && *reason != "none") finding.labels.emplace_back("reason", *reason);
              finding.evidence =
                  "reason: " + reason.value_or(ctx.target.reason) +
                  "\nlast error: " + (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) +
                  "\n";
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto down = "(" + p.select("pgbouncer_up") + " == 0)";
            return std::vector<PromAlert>{
                {.expr = down + " * ignoring(reason) group_left(reason) (" +
                         p.select("pgbouncer_connection_failure", "reason!=\"none\"") +
                         " == 1) or ignoring(reason) " + down}};
          },
  });

  rules.push_back({
      .name = "PgbouncerClientsWaiting",
      .severity = "warning",
      .default_for = 1min,
      .thresholds = {{.key = "threshold",
                      .default_value = 5,
                      .unit = Unit::seconds,
                      .meaning = "how long the oldest client of a pool has waited for a server "
                                 "connection"}},
      .summary = "pgbouncer {{ $labels.target }}: clients of pool {{ $labels.database }}/"
                 "{{ $labels.user }} wait {{ $value | humanizeDuration }} for a server connection",
      .description = "The oldest waiting client of pool {{ $labels.database }}/{{ $labels.user }} "
                     "on pgbouncer {{ $labels.target }} has waited more than ${threshold} for a "
                     "server connection: the pool is exhausted (long transactions or queries hold "
                     "its connections, or pool_size is too small), and the application sees "
                     "slow requests or query_wait_timeout errors.",
      .condition = "pgbouncer_pools_client_maxwait_seconds > threshold",
      .rule_labels = "database, user",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const double threshold = ctx.params.get("threshold");
            for (const auto& [labels, value] :
                 ctx.source.samples(ctx.target.name, "pgbouncer_pools_client_maxwait_seconds")) {
              if (!std::isfinite(value) || value <= threshold) continue;
              const auto database = label_value(labels, "database");
              const auto user = label_value(labels, "user");
              Finding finding;
              finding.labels = {{"database", database}, {"user", user}};
              finding.value = value;
              finding.evidence = pool_evidence(ctx, database, user);
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = p.select("pgbouncer_pools_client_maxwait_seconds") + " > " +
                         number(p.params.get("threshold"))}};
          },
  });

  rules.push_back({
      .name = "PgbouncerPoolSaturated",
      .severity = "warning",
      .default_for = 5min,
      .summary = "pgbouncer {{ $labels.target }}: pool {{ $labels.database }}/{{ $labels.user }} "
                 "uses all its {{ $value }} server connections",
      .description = "Every server connection pool {{ $labels.database }}/{{ $labels.user }} of "
                     "pgbouncer {{ $labels.target }} may open (pool_size) is linked to a client: "
                     "the next client that needs one waits. Sustained, the pool is too small for "
                     "the load or its transactions are too long.",
      .condition = "pgbouncer_pools_server_active_connections >= the database's "
                   "pgbouncer_databases_pool_size (> 0)",
      .rule_labels = "database, user",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            for (const auto& [labels, active] :
                 ctx.source.samples(ctx.target.name, "pgbouncer_pools_server_active_connections")) {
              const auto database = label_value(labels, "database");
              const auto user = label_value(labels, "user");
              const auto limit = pool_limit(ctx, database);
              if (!limit || limit->pool_size <= 0 || active < limit->pool_size) continue;
              Finding finding;
              finding.labels = {{"database", database}, {"user", user}};
              finding.value = active;
              finding.evidence = pool_evidence(ctx, database, user);
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{
                {.expr = p.select("pgbouncer_pools_server_active_connections") +
                         " >= on(target, database) group_left() " + pool_size_by_database(p)}};
          },
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
