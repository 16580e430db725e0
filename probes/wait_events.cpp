#include "probes/wait_events.hpp"

#include <algorithm>
#include <tuple>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Active client backends that wait for something, pgvigil's own sessions left
// out (as the activity probe does). A session that is active without a wait
// event is running on a CPU (or in a wait PostgreSQL does not instrument):
// pg_stat_activity_count{state="active"} minus the sum of these.
constexpr std::string_view kWaitEventsSql = R"sql(
SELECT wait_event_type, wait_event, count(*) AS sessions
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND state = 'active'
  AND wait_event IS NOT NULL
  AND application_name IS DISTINCT FROM 'pgvigil'
  AND pid <> pg_backend_pid()
GROUP BY wait_event_type, wait_event
ORDER BY sessions DESC, wait_event_type, wait_event)sql";

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

std::vector<Query> WaitEventsProbe::queries(const ProbeContext&) const {
  return {{"wait_events", std::string(kWaitEventsSql)}};
}

void WaitEventsProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                              SampleSink& out) {
  report_permission_denied(out, {{"probe", "wait_events"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok) return;
  const auto& rows = results[0];
  std::vector<WaitEventCount> counts;
  for (std::size_t row = 0; row < rows.rows.size(); ++row) {
    auto type = rows.text(row, "wait_event_type");
    auto event = rows.text(row, "wait_event");
    auto sessions = rows.number(row, "sessions");
    if (!type || !event || !sessions) continue;
    counts.push_back({std::string(*type), std::string(*event), *sessions});
  }
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
