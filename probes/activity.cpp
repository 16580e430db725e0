#include "probes/activity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <string>

#include "probes/client_sessions.hpp"
#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Every state pg_stat_activity can report, so a database with client
// backends gets a 0 series for each state nobody is in (stable series).
constexpr std::array<std::string_view, 6> kStates{"active",
                                                  "idle",
                                                  "idle in transaction",
                                                  "idle in transaction (aborted)",
                                                  "fastpath function call",
                                                  "disabled"};

constexpr std::size_t kTopSessions = 5;
constexpr std::size_t kIdleInTransaction = 5;
constexpr std::size_t kBlockingPairs = 50;

std::string text_or_dash(const std::optional<std::string_view>& value) {
  return std::string(value ? *value : std::string_view("-"));
}

std::string seconds_or_dash(const std::optional<double>& value) {
  return value ? fmt::format("{:.1f}s", *value) : std::string("-");
}

// Longest first, unknown durations last, then by pid: the order evidence
// lists sessions in (stable between rounds).
bool longer(const std::optional<double>& a, std::string_view a_pid, const std::optional<double>& b,
            std::string_view b_pid) {
  if (a.has_value() != b.has_value()) return a.has_value();
  if (a && b && *a != *b) return *a > *b;
  if (a_pid.size() != b_pid.size()) return a_pid.size() < b_pid.size();  // numeric order
  return a_pid < b_pid;
}

void max_into(double& into, const std::optional<double>& value) {
  if (value && *value > into) into = *value;
}

// Per database, only the databases the target's patterns select: on a server
// shared by many targets, each would otherwise build every database's series
// only for the daemon to drop them.
void by_state(const std::vector<ClientSession>& sessions, const DatabasePatterns& databases,
              SampleSink& out) {
  struct Cell {
    double count = 0;
    double max_tx = 0;
  };
  std::map<std::string, std::array<Cell, kStates.size()>, std::less<>> per_database;
  for (const auto& session : sessions) {
    if (!session.datname) continue;
    auto found = per_database.find(*session.datname);
    if (found == per_database.end()) {
      if (!databases.empty() && !database_selected(databases, *session.datname)) continue;
      found = per_database.try_emplace(std::string(*session.datname)).first;
    }
    auto& cells = found->second;
    for (std::size_t i = 0; i < kStates.size(); ++i) {
      if (!session.in_state(kStates[i])) continue;
      cells[i].count += 1;
      max_into(cells[i].max_tx, session.xact_seconds);
    }
  }
  for (const auto& [datname, cells] : per_database) {
    for (std::size_t i = 0; i < kStates.size(); ++i) {
      const Labels labels{{"datname", datname}, {"state", std::string(kStates[i])}};
      out.gauge("pg_stat_activity_count", "Number of client backends in this state", labels,
                cells[i].count);
      out.gauge("pg_stat_activity_max_tx_duration",
                "Seconds since the oldest transaction of a client backend in this state started",
                labels, cells[i].max_tx);
    }
  }
}

void summary(const std::vector<ClientSession>& sessions, SampleSink& out) {
  double oldest_idle_in_transaction = 0;
  double longest_query = 0;
  double waiting_on_lock = 0;
  double blocked = 0;
  double longest_lock_wait = 0;
  for (const auto& session : sessions) {
    if (session.idle_in_transaction()) max_into(oldest_idle_in_transaction, session.state_seconds);
    if (session.in_state("active") && !session.from_pgvigil())
      max_into(longest_query, session.query_seconds);
    if (session.waits_on_lock()) {
      waiting_on_lock += 1;
      if (!session.blocking_pids.empty()) blocked += 1;
      max_into(longest_lock_wait, session.lock_wait_seconds);
    }
  }
  out.gauge("pg_stat_activity_oldest_idle_in_transaction_seconds",
            "Seconds the longest idle-in-transaction session has been idle (0 when none)", {},
            oldest_idle_in_transaction);
  out.gauge("pg_stat_activity_longest_query_seconds",
            "Seconds the longest running active statement (not pgvigil's) has run", {},
            longest_query);
  out.gauge("pg_stat_activity_waiting_on_lock", "Client backends waiting for a heavyweight lock",
            {}, waiting_on_lock);
  out.gauge("pg_stat_activity_blocked_sessions",
            "Client backends blocked by another backend (pg_blocking_pids non-empty)", {}, blocked);
  out.gauge("pg_stat_activity_longest_lock_wait_seconds",
            "Seconds the longest lock wait has lasted (0 when none)", {}, longest_lock_wait);
}

void top_sessions(const std::vector<ClientSession>& sessions, SampleSink& out) {
  std::vector<const ClientSession*> busy;
  for (const auto& session : sessions)
    if (!session.own && !session.in_state("idle")) busy.push_back(&session);
  const auto duration = [](const ClientSession* s) {
    return s->xact_seconds ? s->xact_seconds : s->query_seconds;
  };
  std::sort(busy.begin(), busy.end(), [&](const ClientSession* a, const ClientSession* b) {
    return longer(duration(a), a->pid, duration(b), b->pid);
  });
  if (busy.size() > kTopSessions) busy.resize(kTopSessions);
  std::string text;
  for (const auto* s : busy)
    text += fmt::format(
        "pid {} user={} application={} database={} state={} duration={} query: {}\n", s->pid,
        clip_evidence(text_or_dash(s->usename)), clip_evidence(text_or_dash(s->application_name)),
        clip_evidence(text_or_dash(s->datname)), text_or_dash(s->state),
        seconds_or_dash(duration(s)), clip_evidence(text_or_dash(s->query)));
  out.evidence("activity.top_sessions", text.empty() ? "no non-idle client sessions" : text);
}

void idle_in_transaction(const std::vector<ClientSession>& sessions, SampleSink& out) {
  std::vector<const ClientSession*> idle;
  for (const auto& session : sessions)
    if (session.idle_in_transaction()) idle.push_back(&session);
  std::sort(idle.begin(), idle.end(), [](const ClientSession* a, const ClientSession* b) {
    return longer(a->state_seconds, a->pid, b->state_seconds, b->pid);
  });
  if (idle.size() > kIdleInTransaction) idle.resize(kIdleInTransaction);
  std::string text;
  for (const auto* s : idle)
    text += fmt::format(
        "pid {} user={} application={} database={} state={} idle={} transaction={} last "
        "query: {}\n",
        s->pid, clip_evidence(text_or_dash(s->usename)),
        clip_evidence(text_or_dash(s->application_name)), clip_evidence(text_or_dash(s->datname)),
        text_or_dash(s->state), seconds_or_dash(s->state_seconds), seconds_or_dash(s->xact_seconds),
        clip_evidence(text_or_dash(s->query)));
  out.evidence("activity.idle_in_transaction",
               text.empty() ? "no idle-in-transaction sessions" : text);
}

void blocking_chain(const std::vector<ClientSession>& sessions, SampleSink& out) {
  std::vector<const ClientSession*> waiters;
  for (const auto& session : sessions)
    if (session.waits_on_lock()) waiters.push_back(&session);
  if (waiters.empty()) {
    out.evidence("activity.blocking_chain", "no blocked sessions");
    return;
  }
  // Only when someone waits: most rounds have no waiter, and a server with a
  // hundred targets' sessions made this map a hundred times a second.
  std::map<std::string_view, const ClientSession*> by_pid;
  for (const auto& session : sessions) by_pid.emplace(session.pid, &session);
  std::sort(waiters.begin(), waiters.end(), [](const ClientSession* a, const ClientSession* b) {
    return longer(a->query_seconds, a->pid, b->query_seconds, b->pid);
  });
  std::string text;
  std::size_t pairs = 0;
  for (const auto* w : waiters) {
    if (pairs == kBlockingPairs) break;
    auto blockers = w->blocking_pids;
    std::sort(blockers.begin(), blockers.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (const auto& blocker_pid : blockers) {
      if (pairs == kBlockingPairs) break;
      ++pairs;
      const auto it = by_pid.find(blocker_pid);
      const ClientSession* b = it == by_pid.end() ? nullptr : it->second;
      text += fmt::format(
          "pid {} (user={} application={} waiting={} query: {}) is blocked by pid {} (user={} "
          "state={} query: {})\n",
          w->pid, clip_evidence(text_or_dash(w->usename)),
          clip_evidence(text_or_dash(w->application_name)), seconds_or_dash(w->query_seconds),
          clip_evidence(text_or_dash(w->query)), blocker_pid,
          clip_evidence(b ? text_or_dash(b->usename) : "-"),
          b ? text_or_dash(b->state) : std::string("-"),
          clip_evidence(b ? text_or_dash(b->query) : "-"));
    }
  }
  out.evidence("activity.blocking_chain", text.empty() ? "no blocked sessions" : text);
}

}  // namespace

std::vector<Query> ActivityProbe::queries(const ProbeContext& ctx) const {
  return {client_sessions_query(ctx.server)};
}

void ActivityProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                            SampleSink& out) {
  report_permission_denied(out, {{"probe", "activity"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok) return;
  const auto sessions = read_client_sessions(results[0]);
  by_state(sessions, ctx.databases, out);
  summary(sessions, out);
  top_sessions(sessions, out);
  idle_in_transaction(sessions, out);
  blocking_chain(sessions, out);
}

std::unique_ptr<SqlProbe> make_activity_probe() {
  return std::make_unique<ActivityProbe>();
}

}  // namespace pgvigil
