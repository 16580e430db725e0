#pragma once
// What pgvigil sends to Alertmanager: the API v2 postableAlert objects for
// the alerts the evaluator says are due, keyed by fingerprint so a sender's
// queue can replace an older version of the same alert. Pure: the transport
// is daemon/alertmanager_client.* over the one HTTP client.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "alerts/evaluator.hpp"

namespace pgvigil::alerts {

// RFC 3339 UTC with milliseconds, e.g. 2026-11-22T06:12:50.123Z.
std::string rfc3339(Clock::time_point time);

// The JSON object Alertmanager's API v2 expects for one alert (postableAlert).
// Firing alerts end at `firing_ends_at` unless re-sent; resolved ones at their
// resolve time.
std::string alert_json(const Alert& alert, Clock::time_point firing_ends_at,
                       const std::string& generator_url);

struct DeliveryTiming {
  std::chrono::milliseconds evaluation_interval{1000};
  std::chrono::milliseconds resend_interval{60'000};
};

// (fingerprint, JSON) for each due alert. `generator_base` is this daemon's
// external URL; each alert links to its entry in /api/v1/alerts there.
std::vector<std::pair<std::string, std::string>> alertmanager_batch(
    const std::vector<Alert>& due, Clock::time_point now, const DeliveryTiming& timing,
    std::string_view generator_base);

}  // namespace pgvigil::alerts
