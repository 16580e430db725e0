#pragma once
// wait_events: what active client sessions are waiting for right now
// (pg_stat_activity.wait_event_type / wait_event), the top N pairs by
// sessions and one "other" bucket for the rest, so the series stay bounded.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "probes/probe.hpp"

namespace pgvigil {

class WaitEventsProbe final : public SqlProbe {
 public:
  static constexpr std::size_t kDefaultTopN = 10;
  static constexpr std::size_t kMaxTopN = 50;
  std::string_view name() const noexcept override { return "wait_events"; }
  config::Duration default_interval() const noexcept override { return config::Duration{5'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_wait_events_probe();

struct WaitEventCount {
  std::string type;
  std::string event;
  double sessions = 0;
};

// The `top_n` pairs with the most sessions (ties by type, then event) and the
// sum of the others; pure, for the probe and its tests.
struct RankedWaitEvents {
  std::vector<WaitEventCount> top;
  double other = 0;
};
RankedWaitEvents rank_wait_events(std::vector<WaitEventCount> counts, std::size_t top_n);

}  // namespace pgvigil
