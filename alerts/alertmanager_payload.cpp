#include "alerts/alertmanager_payload.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>

namespace pgvigil::alerts {

std::string rfc3339(Clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms.count() % 1000));
  return std::string(buffer, n) + millis;
}

std::string alert_json(const Alert& alert, Clock::time_point firing_ends_at,
                       const std::string& generator_url) {
  // ordered_json keeps the field order of Alertmanager's own documentation.
  nlohmann::ordered_json labels = nlohmann::ordered_json::object();
  for (const auto& [name, value] : alert.labels) labels[name] = value;
  nlohmann::ordered_json annotations{{"summary", alert.summary},
                                     {"description", alert.description},
                                     {"runbook_url", alert.runbook_url}};
  if (!alert.evidence.empty()) annotations["evidence"] = alert.evidence;
  const auto ends = alert.state == AlertState::resolved ? alert.resolved_at : firing_ends_at;
  nlohmann::ordered_json json{{"labels", std::move(labels)},
                              {"annotations", std::move(annotations)},
                              {"startsAt", rfc3339(alert.fired_at)},
                              {"endsAt", rfc3339(ends)},
                              {"generatorURL", generator_url}};
  // A server's message may hold bytes that are not UTF-8: replaced, not thrown.
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<std::pair<std::string, std::string>> alertmanager_batch(
    const std::vector<Alert>& due, Clock::time_point now, const DeliveryTiming& timing,
    std::string_view generator_base) {
  // Like Prometheus: a firing alert lasts until 4 evaluation or resend
  // intervals pass without news, so one lost send does not resolve it.
  const auto ends_at = now + 4 * std::max(timing.evaluation_interval, timing.resend_interval);
  std::string base(generator_base);
  if (base.ends_with('/')) base.pop_back();
  std::vector<std::pair<std::string, std::string>> batch;
  batch.reserve(due.size());
  for (const auto& alert : due) {
    const std::string generator =
        base + "/api/v1/alerts?alertname=" + alert.rule + "&target=" + alert.target;
    batch.emplace_back(fingerprint(alert.labels), alert_json(alert, ends_at, generator));
  }
  return batch;
}

}  // namespace pgvigil::alerts
