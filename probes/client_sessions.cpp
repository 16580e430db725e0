#include "probes/client_sessions.hpp"

#include <fmt/format.h>

namespace pgvigil {

namespace {

// Every client backend, ages in seconds; the query text only where some
// evidence may show it, so a fleet's idle monitoring sessions cost no text.
constexpr std::string_view kClientSessionsSql = R"sql(
WITH blockers AS (
  SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid
  FROM pg_stat_activity WHERE wait_event_type = 'Lock')
SELECT a.pid, a.datname, a.usename, a.application_name, a.state,
       a.wait_event_type, a.wait_event, a.pid = pg_backend_pid() AS own,
       EXTRACT(EPOCH FROM now() - a.xact_start) AS xact_seconds,
       EXTRACT(EPOCH FROM now() - a.query_start) AS query_seconds,
       EXTRACT(EPOCH FROM now() - a.state_change) AS state_seconds,
       CASE WHEN a.wait_event_type = 'Lock'
            THEN EXTRACT(EPOCH FROM now() - {lock_wait_start}) END AS lock_wait_seconds,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocking_pids,
       CASE WHEN a.state IS DISTINCT FROM 'idle' OR a.pid IN (SELECT pid FROM blockers)
            THEN left(a.query, 200) END AS query
FROM pg_stat_activity AS a
WHERE a.backend_type = 'client backend')sql";

constexpr std::string_view kLockWaitStartSince14 =
    "COALESCE((SELECT min(l.waitstart) FROM pg_locks AS l "
    "WHERE l.pid = a.pid AND NOT l.granted), a.query_start)";
constexpr std::string_view kLockWaitStartBefore14 = "a.query_start";

std::optional<std::string_view> cell(const QueryResult& result, std::size_t row, int column) {
  if (column < 0) return std::nullopt;
  const auto& value = result.rows[row][static_cast<std::size_t>(column)];
  if (!value) return std::nullopt;
  return std::string_view(*value);
}

std::optional<double> seconds(const QueryResult& result, std::size_t row, int column) {
  if (column < 0) return std::nullopt;
  const auto& text = result.rows[row][static_cast<std::size_t>(column)];
  if (!text) return std::nullopt;
  return parse_finite_number(*text);
}

}  // namespace

Query client_sessions_query(const ServerInfo& server) {
  const bool has_waitstart = server.version_num >= 140000;
  return {std::string(kClientSessionsQueryName),
          fmt::format(fmt::runtime(kClientSessionsSql),
                      fmt::arg("lock_wait_start",
                               has_waitstart ? kLockWaitStartSince14 : kLockWaitStartBefore14))};
}

std::vector<std::string> parse_pid_array(std::string_view text) {
  std::vector<std::string> pids;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return pids;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    if (!item.empty() && item.find_first_not_of("0123456789") == std::string_view::npos)
      pids.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return pids;
}

std::vector<ClientSession> read_client_sessions(const QueryResult& result) {
  std::vector<ClientSession> sessions;
  if (!result.ok) return sessions;
  const int pid = result.column("pid");
  const int datname = result.column("datname");
  const int usename = result.column("usename");
  const int application_name = result.column("application_name");
  const int state = result.column("state");
  const int wait_event_type = result.column("wait_event_type");
  const int wait_event = result.column("wait_event");
  const int own = result.column("own");
  const int xact = result.column("xact_seconds");
  const int query_age = result.column("query_seconds");
  const int state_age = result.column("state_seconds");
  const int lock_wait = result.column("lock_wait_seconds");
  const int blocking = result.column("blocking_pids");
  const int query = result.column("query");
  sessions.reserve(result.rows.size());
  for (std::size_t row = 0; row < result.rows.size(); ++row) {
    if (result.rows[row].size() != result.columns.size()) continue;
    auto pid_text = cell(result, row, pid);
    if (!pid_text) continue;
    ClientSession session;
    session.pid = *pid_text;
    session.datname = cell(result, row, datname);
    session.usename = cell(result, row, usename);
    session.application_name = cell(result, row, application_name);
    session.state = cell(result, row, state);
    session.wait_event_type = cell(result, row, wait_event_type);
    session.wait_event = cell(result, row, wait_event);
    session.query = cell(result, row, query);
    session.own = cell(result, row, own) == "t";
    session.xact_seconds = seconds(result, row, xact);
    session.query_seconds = seconds(result, row, query_age);
    session.state_seconds = seconds(result, row, state_age);
    session.lock_wait_seconds = seconds(result, row, lock_wait);
    if (auto pids = cell(result, row, blocking)) session.blocking_pids = parse_pid_array(*pids);
    sessions.push_back(std::move(session));
  }
  return sessions;
}

}  // namespace pgvigil
