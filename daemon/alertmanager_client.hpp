#pragma once
// Pushes alerts to every configured Alertmanager (POST /api/v2/alerts)
// through the one HTTP client (collect/http_client.*) on the daemon's loop.
// The payloads come from alerts/alertmanager_payload.*. Nothing here blocks: each Alertmanager has
// its own queue, one request in flight at most, a deadline on every request, and a capped
// exponential backoff after failures. A dead Alertmanager only grows (a bounded) queue; probes and
// the other Alertmanagers carry on.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collect/http_client.hpp"
#include "config/config.hpp"

namespace pgvigil {

// The Authorization header value from the alerting config ("Basic ...",
// "Bearer ..." or "" for none), reading the secret files. On an unreadable
// file returns "" and sets *error (naming the file, never its contents).
std::string alertmanager_authorization(const config::AlertingConfig& alerting, std::string* error);

// An Alertmanager base URL, parsed by the one HTTP client's parser.
// user:password@ in the URL is refused so a secret never ends up in a metric
// label or a log line (the config has basic_auth_password_file for that).
std::optional<HttpUrl> parse_alertmanager_url(const std::string& url, std::string* error);

struct AlertmanagerClientOptions {
  std::vector<std::string> urls;
  std::chrono::milliseconds timeout{10'000};
  std::string authorization;  // header value; a secret, never logged
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_cap{30'000};
  std::size_t max_queued_alerts = 10'000;  // per Alertmanager; the oldest are dropped beyond it
};

class AlertmanagerClient {
 public:
  AlertmanagerClient(boost::asio::io_context& io, prometheus::Registry& registry);
  ~AlertmanagerClient();
  AlertmanagerClient(const AlertmanagerClient&) = delete;
  AlertmanagerClient& operator=(const AlertmanagerClient&) = delete;

  // Replaces the set of Alertmanagers and the options (config reload). Queues
  // of Alertmanagers that stay configured are kept.
  void configure(AlertmanagerClientOptions options);
  // Queues alerts (fingerprint -> JSON object) for every Alertmanager; a newer
  // version of an alert replaces a queued one. Sends when idle.
  void send(const std::vector<std::pair<std::string, std::string>>& alerts);
  // Cancels requests in flight and timers; queued alerts are dropped.
  void stop();

  std::size_t alertmanager_count() const noexcept { return endpoints_.size(); }
  // Alerts waiting (or in flight) for the Alertmanager at `index`.
  std::size_t queued(std::size_t index) const;

  struct Endpoint;

 private:
  boost::asio::io_context& io_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Histogram>& latency_;
  AlertmanagerClientOptions options_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
};

}  // namespace pgvigil
