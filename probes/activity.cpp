#include "probes/activity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Every state pg_stat_activity can report, so a database with client
// backends gets a 0 series for each state nobody is in (stable series).
constexpr std::string_view kActivityByStateSql = R"sql(
WITH states(state) AS (
  VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
         ('fastpath function call'), ('disabled')),
clients AS (
  SELECT datname, state, xact_start FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND datname IS NOT NULL)
SELECT d.datname, s.state, count(c.state) AS count,
       COALESCE(max(EXTRACT(EPOCH FROM now() - c.xact_start)), 0) AS max_tx_duration
FROM (SELECT DISTINCT datname FROM clients) AS d
CROSS JOIN states AS s
LEFT JOIN clients AS c ON c.datname = d.datname AND c.state = s.state
GROUP BY d.datname, s.state
ORDER BY d.datname, s.state)sql";

// {lock_wait_start} is when a waiting session started to wait: pg_locks.waitstart
// from 14 on; before that the start of the waiting statement, an upper bound.
constexpr std::string_view kActivitySummarySql = R"sql(
SELECT
  COALESCE(max(EXTRACT(EPOCH FROM now() - state_change))
    FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')), 0)
    AS oldest_idle_in_transaction_seconds,
  COALESCE(max(EXTRACT(EPOCH FROM now() - query_start))
    FILTER (WHERE state = 'active' AND application_name IS DISTINCT FROM 'pgvigil'
            AND pid <> pg_backend_pid()), 0)
    AS longest_query_seconds,
  count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_lock,
  count(*) FILTER (WHERE wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0)
    AS blocked_sessions,
  COALESCE(max(EXTRACT(EPOCH FROM now() - {lock_wait_start}))
    FILTER (WHERE wait_event_type = 'Lock'), 0)
    AS longest_lock_wait_seconds
FROM pg_stat_activity
WHERE backend_type = 'client backend')sql";

constexpr std::string_view kLockWaitStartSince14 =
    "COALESCE((SELECT min(l.waitstart) FROM pg_locks AS l "
    "WHERE l.pid = pg_stat_activity.pid AND NOT l.granted), query_start)";
constexpr std::string_view kLockWaitStartBefore14 = "query_start";

constexpr std::string_view kTopSessionsSql = R"sql(
SELECT pid, usename, application_name, datname, state,
       EXTRACT(EPOCH FROM now() - COALESCE(xact_start, query_start)) AS duration_seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state IS DISTINCT FROM 'idle'
  AND pid <> pg_backend_pid()
ORDER BY duration_seconds DESC NULLS LAST, pid
LIMIT 5)sql";

constexpr std::string_view kIdleInTransactionSql = R"sql(
SELECT pid, usename, application_name, datname, state,
       EXTRACT(EPOCH FROM now() - state_change) AS idle_seconds,
       EXTRACT(EPOCH FROM now() - xact_start) AS transaction_seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND state IN ('idle in transaction', 'idle in transaction (aborted)')
ORDER BY idle_seconds DESC NULLS LAST, pid
LIMIT 5)sql";

constexpr std::string_view kBlockingChainSql = R"sql(
SELECT w.pid, w.usename, w.application_name,
       EXTRACT(EPOCH FROM now() - w.query_start) AS waiting_seconds,
       left(w.query, 200) AS query,
       blocker.pid AS blocking_pid, b.usename AS blocking_usename, b.state AS blocking_state,
       left(b.query, 200) AS blocking_query
FROM pg_stat_activity AS w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
LEFT JOIN pg_stat_activity AS b ON b.pid = blocker.pid
WHERE w.wait_event_type = 'Lock'
ORDER BY waiting_seconds DESC NULLS LAST, w.pid, blocker.pid
LIMIT 50)sql";

enum Statement : std::size_t { kByState, kSummary, kTopSessions, kIdleInTx, kBlocking, kCount };

std::string cell(const QueryResult& result, std::size_t row, std::string_view col) {
  auto value = result.text(row, col);
  return value ? std::string(*value) : std::string("-");
}

std::string seconds(const QueryResult& result, std::size_t row, std::string_view col) {
  auto value = result.number(row, col);
  return value ? fmt::format("{:.1f}s", *value) : std::string("-");
}

void summary_gauge(const QueryResult& result, std::string_view col, std::string_view metric,
                   std::string_view help, SampleSink& out) {
  if (auto value = result.number(0, col)) out.gauge(metric, help, {}, *value);
}

}  // namespace

std::vector<Query> ActivityProbe::queries(const ProbeContext& ctx) const {
  const bool has_waitstart = ctx.server.version_num >= 140000;
  return {
      {"activity_by_state", std::string(kActivityByStateSql)},
      {"activity_summary",
       fmt::format(fmt::runtime(kActivitySummarySql),
                   fmt::arg("lock_wait_start",
                            has_waitstart ? kLockWaitStartSince14 : kLockWaitStartBefore14))},
      {"activity_top_sessions", std::string(kTopSessionsSql)},
      {"activity_idle_in_transaction", std::string(kIdleInTransactionSql)},
      {"activity_blocking_chain", std::string(kBlockingChainSql)},
  };
}

void ActivityProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                            SampleSink& out) {
  report_permission_denied(out, {{"probe", "activity"}}, any_permission_denied(results));
  if (results.size() < kCount) return;

  if (const auto& by_state = results[kByState]; by_state.ok) {
    for (std::size_t row = 0; row < by_state.rows.size(); ++row) {
      auto datname = by_state.text(row, "datname");
      auto state = by_state.text(row, "state");
      if (!datname || !state) continue;
      const Labels labels{{"datname", std::string(*datname)}, {"state", std::string(*state)}};
      if (auto count = by_state.number(row, "count"))
        out.gauge("pg_stat_activity_count", "Number of client backends in this state", labels,
                  *count);
      if (auto duration = by_state.number(row, "max_tx_duration"))
        out.gauge("pg_stat_activity_max_tx_duration",
                  "Seconds since the oldest transaction of a client backend in this state started",
                  labels, *duration);
    }
  }

  if (const auto& summary = results[kSummary]; summary.ok && !summary.rows.empty()) {
    summary_gauge(summary, "oldest_idle_in_transaction_seconds",
                  "pg_stat_activity_oldest_idle_in_transaction_seconds",
                  "Seconds the longest idle-in-transaction session has been idle (0 when none)",
                  out);
    summary_gauge(summary, "longest_query_seconds", "pg_stat_activity_longest_query_seconds",
                  "Seconds the longest running active statement (not pgvigil's) has run", out);
    summary_gauge(summary, "waiting_on_lock", "pg_stat_activity_waiting_on_lock",
                  "Client backends waiting for a heavyweight lock", out);
    summary_gauge(summary, "blocked_sessions", "pg_stat_activity_blocked_sessions",
                  "Client backends blocked by another backend (pg_blocking_pids non-empty)", out);
    summary_gauge(summary, "longest_lock_wait_seconds",
                  "pg_stat_activity_longest_lock_wait_seconds",
                  "Seconds the longest lock wait has lasted (0 when none)", out);
  }

  if (const auto& top = results[kTopSessions]; top.ok) {
    std::string text;
    for (std::size_t row = 0; row < top.rows.size(); ++row)
      text += fmt::format(
          "pid {} user={} application={} database={} state={} duration={} query: {}\n",
          cell(top, row, "pid"), clip_evidence(cell(top, row, "usename")),
          clip_evidence(cell(top, row, "application_name")),
          clip_evidence(cell(top, row, "datname")), cell(top, row, "state"),
          seconds(top, row, "duration_seconds"), clip_evidence(cell(top, row, "query")));
    out.evidence("activity.top_sessions", text.empty() ? "no non-idle client sessions" : text);
  }

  if (const auto& idle = results[kIdleInTx]; idle.ok) {
    std::string text;
    for (std::size_t row = 0; row < idle.rows.size(); ++row)
      text += fmt::format(
          "pid {} user={} application={} database={} state={} idle={} transaction={} last "
          "query: {}\n",
          cell(idle, row, "pid"), clip_evidence(cell(idle, row, "usename")),
          clip_evidence(cell(idle, row, "application_name")),
          clip_evidence(cell(idle, row, "datname")), cell(idle, row, "state"),
          seconds(idle, row, "idle_seconds"), seconds(idle, row, "transaction_seconds"),
          clip_evidence(cell(idle, row, "query")));
    out.evidence("activity.idle_in_transaction",
                 text.empty() ? "no idle-in-transaction sessions" : text);
  }

  if (const auto& chain = results[kBlocking]; chain.ok) {
    std::string text;
    for (std::size_t row = 0; row < chain.rows.size(); ++row)
      text += fmt::format(
          "pid {} (user={} application={} waiting={} query: {}) is blocked by pid {} (user={} "
          "state={} query: {})\n",
          cell(chain, row, "pid"), clip_evidence(cell(chain, row, "usename")),
          clip_evidence(cell(chain, row, "application_name")),
          seconds(chain, row, "waiting_seconds"), clip_evidence(cell(chain, row, "query")),
          cell(chain, row, "blocking_pid"), clip_evidence(cell(chain, row, "blocking_usename")),
          cell(chain, row, "blocking_state"), clip_evidence(cell(chain, row, "blocking_query")));
    out.evidence("activity.blocking_chain", text.empty() ? "no blocked sessions" : text);
  }
}

std::unique_ptr<SqlProbe> make_activity_probe() {
  return std::make_unique<ActivityProbe>();
}

}  // namespace pgvigil
