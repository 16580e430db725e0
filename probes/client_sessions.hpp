#pragma once
// One read of pg_stat_activity shared by the activity, connections and
// wait_events probes: one row per client backend with what each of them
// derives its series and evidence from. The three ask for the same statement,
// so when they fall due together the session sends it once (collect/
// pg_connection batches a round's identical statements) and the server
// builds its view of the backends once instead of seven times.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/probe.hpp"
#include "probes/query_result.hpp"

namespace pgvigil {

inline constexpr std::string_view kClientSessionsQueryName = "client_sessions";

// The statement for this server (lock waits start at pg_locks.waitstart from
// 14 on, at the waiting statement's start before).
Query client_sessions_query(const ServerInfo& server);

// A view into the reply it was read from: it lives no longer than that
// QueryResult (three probes read the same hundred rows a round on a server
// shared by a fleet's targets; copying every cell was a tenth of the agent).
struct ClientSession {
  std::string_view pid;  // as text, the way evidence shows it
  std::optional<std::string_view> datname;
  std::optional<std::string_view> usename;
  std::optional<std::string_view> application_name;
  std::optional<std::string_view> state;
  std::optional<std::string_view> wait_event_type;
  std::optional<std::string_view> wait_event;
  // Sent for sessions that are not idle and for idle ones that block
  // another (an advisory lock held across transactions): 200 bytes at most.
  std::optional<std::string_view> query;
  bool own = false;  // the monitoring session that asked
  std::optional<double> xact_seconds;
  std::optional<double> query_seconds;
  std::optional<double> state_seconds;
  std::optional<double> lock_wait_seconds;  // sessions waiting on a heavyweight lock
  std::vector<std::string> blocking_pids;   // pg_blocking_pids, for those sessions

  bool waits_on_lock() const noexcept { return wait_event_type == "Lock"; }
  bool in_state(std::string_view s) const noexcept { return state && *state == s; }
  bool idle_in_transaction() const noexcept {
    return in_state("idle in transaction") || in_state("idle in transaction (aborted)");
  }
  // pgvigil's sessions (any instance, by application_name) and this one.
  bool from_pgvigil() const noexcept { return own || application_name == "pgvigil"; }
};

// The rows of a successful reply, as views into it; a row without a pid is
// skipped. Never throws on odd cells: a number that does not parse is absent.
std::vector<ClientSession> read_client_sessions(const QueryResult& result);

// "{12,34}" (PostgreSQL's text form of an int[]) -> {"12", "34"}.
std::vector<std::string> parse_pid_array(std::string_view text);

}  // namespace pgvigil
