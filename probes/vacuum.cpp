#include "probes/vacuum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Bounded in SQL: only the top N rows leave the server.
constexpr std::string_view kTopDeadSql = R"sql(
SELECT current_database() AS datname, schemaname, relname, n_live_tup, n_dead_tup,
       EXTRACT(EPOCH FROM last_vacuum) AS last_vacuum,
       EXTRACT(EPOCH FROM last_autovacuum) AS last_autovacuum,
       EXTRACT(EPOCH FROM last_analyze) AS last_analyze,
       EXTRACT(EPOCH FROM last_autoanalyze) AS last_autoanalyze,
       vacuum_count, autovacuum_count
FROM pg_stat_user_tables
ORDER BY n_dead_tup DESC NULLS LAST, schemaname, relname
LIMIT {top_n})sql";

// Only autovacuum_enabled=false tables (reloption values were validated as
// booleans when set, so the cast cannot fail).
constexpr std::string_view kAutovacuumDisabledSql = R"sql(
SELECT current_database() AS datname, n.nspname AS schemaname, c.relname
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_options_to_table(c.reloptions) AS o
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND o.option_name = 'autovacuum_enabled' AND NOT o.option_value::boolean
ORDER BY n.nspname, c.relname
LIMIT 1000)sql";

enum Statement : std::size_t { kTopDead, kDisabled, kCount };

struct TableColumn {
  std::string_view column;
  bool counter;
  std::string_view help;
};

constexpr std::array<TableColumn, 8> kTableColumns{{
    {"n_live_tup", false, "Estimated number of live rows"},
    {"n_dead_tup", false, "Estimated number of dead rows"},
    {"last_vacuum", false, "Last time this table was manually vacuumed (unix seconds)"},
    {"last_autovacuum", false, "Last time this table was vacuumed by autovacuum (unix seconds)"},
    {"last_analyze", false, "Last time this table was manually analyzed (unix seconds)"},
    {"last_autoanalyze", false, "Last time this table was analyzed by autovacuum (unix seconds)"},
    {"vacuum_count", true, "Number of times this table has been manually vacuumed"},
    {"autovacuum_count", true, "Number of times this table has been vacuumed by autovacuum"},
}};

std::size_t top_n(const ProbeContext& ctx) {
  return configured_top_n(ctx, "vacuum", VacuumProbe::kDefaultTopN, VacuumProbe::kMaxTopN);
}

}  // namespace

std::vector<Query> VacuumProbe::queries(const ProbeContext& ctx) const {
  return {
      {"vacuum_top_dead", fmt::format(fmt::runtime(kTopDeadSql), fmt::arg("top_n", top_n(ctx)))},
      {"vacuum_autovacuum_disabled", std::string(kAutovacuumDisabledSql)},
  };
}

void VacuumProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                          SampleSink& out) {
  // Labelled by database too: collect() runs once per database in a round.
  report_permission_denied(out, {{"probe", "vacuum"}, {"datname", std::string(ctx.database)}},
                           any_permission_denied(results));
  if (results.size() < kCount) return;

  if (const auto& tables = results[kTopDead]; tables.ok) {
    std::string table_text;
    for (std::size_t row = 0; row < tables.rows.size(); ++row) {
      auto schemaname = tables.text(row, "schemaname");
      auto relname = tables.text(row, "relname");
      if (!schemaname || !relname) continue;
      const std::string datname(tables.text(row, "datname").value_or(ctx.database));
      const Labels labels{{"datname", datname},
                          {"schemaname", std::string(*schemaname)},
                          {"relname", std::string(*relname)}};
      for (const auto& column : kTableColumns) {
        auto value = tables.number(row, column.column);
        if (!value) continue;
        const std::string metric = fmt::format("pg_stat_user_tables_{}", column.column);
        if (column.counter)
          out.counter(metric, column.help, labels, *value);
        else
          out.gauge(metric, column.help, labels, *value);
      }
      auto live = tables.number(row, "n_live_tup");
      auto dead = tables.number(row, "n_dead_tup");
      if (live && dead && *live + *dead > 0)
        out.gauge("pg_stat_user_tables_dead_tuple_ratio",
                  "Dead rows / (live rows + dead rows), estimated", labels,
                  *dead / (*live + *dead));
      table_text +=
          fmt::format("{}.{} dead={} live={} last_autovacuum={}\n", clip_evidence(*schemaname),
                      clip_evidence(*relname), tables.text(row, "n_dead_tup").value_or("-"),
                      tables.text(row, "n_live_tup").value_or("-"),
                      tables.text(row, "last_autovacuum").value_or("never"));
    }
    // One evidence key for the whole round: each database adds its section.
    append_database_evidence(out, "vacuum.top_dead", ctx.database,
                             table_text.empty() ? "no user tables\n" : table_text);
  }

  if (const auto& disabled = results[kDisabled]; disabled.ok) {
    for (std::size_t row = 0; row < disabled.rows.size(); ++row) {
      auto schemaname = disabled.text(row, "schemaname");
      auto relname = disabled.text(row, "relname");
      if (!schemaname || !relname) continue;
      out.gauge("pg_table_autovacuum_enabled",
                "0 for a table whose reloptions switch autovacuum off",
                {{"datname", std::string(disabled.text(row, "datname").value_or(ctx.database))},
                 {"schemaname", std::string(*schemaname)},
                 {"relname", std::string(*relname)}},
                0.0);
    }
  }
}

std::unique_ptr<SqlProbe> make_vacuum_probe() {
  return std::make_unique<VacuumProbe>();
}

}  // namespace pgvigil
