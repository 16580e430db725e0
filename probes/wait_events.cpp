#include "probes/wait_events.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "probes/client_sessions.hpp"
#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

constexpr std::string_view kOther = "other";

}  // namespace

RankedWaitEvents rank_wait_events(std::vector<WaitEventCount> counts, std::size_t top_n) {
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return std::tie(b.sessions, a.type, a.event) < std::tie(a.sessions, b.type, b.event);
  });
  RankedWaitEvents ranked;
  for (auto& count : counts) {
    if (ranked.top.size() < top_n)
      ranked.top.push_back(std::move(count));
    else
      ranked.other += count.sessions;
  }
  return ranked;
}

std::vector<Query> WaitEventsProbe::queries(const ProbeContext& ctx) const {
  return {client_sessions_query(ctx.server)};
}

void WaitEventsProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                              SampleSink& out) {
  report_permission_denied(out, {{"probe", "wait_events"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok) return;
  // Active client sessions that wait for something, pgvigil's own left out
  // (as the activity probe does). One that is active without a wait event is
  // on a CPU (or in a wait PostgreSQL does not instrument):
  // pg_stat_activity_count{state="active"} minus the sum of these.
  std::map<std::pair<std::string, std::string>, double> by_event;
  for (const auto& session : read_client_sessions(results[0])) {
    if (!session.in_state("active") || session.from_pgvigil()) continue;
    if (!session.wait_event || !session.wait_event_type) continue;
    by_event[{std::string(*session.wait_event_type), std::string(*session.wait_event)}] += 1;
  }
  std::vector<WaitEventCount> counts;
  counts.reserve(by_event.size());
  for (const auto& [key, sessions] : by_event) counts.push_back({key.first, key.second, sessions});
  const auto ranked = rank_wait_events(
      std::move(counts), configured_top_n(ctx, "wait_events", kDefaultTopN, kMaxTopN));
  constexpr std::string_view help =
      "Active client sessions waiting, by wait event (top N pairs; the rest under "
      "wait_event_type=\"other\", wait_event=\"other\", always present)";
  for (const auto& count : ranked.top)
    out.gauge("pgvigil_wait_event_sessions", help,
              {{"wait_event_type", count.type}, {"wait_event", count.event}}, count.sessions);
  out.gauge("pgvigil_wait_event_sessions", help,
            {{"wait_event_type", std::string(kOther)}, {"wait_event", std::string(kOther)}},
            ranked.other);
}

std::unique_ptr<SqlProbe> make_wait_events_probe() {
  return std::make_unique<WaitEventsProbe>();
}

}  // namespace pgvigil
