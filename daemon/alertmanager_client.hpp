#pragma once
// Pushes alerts to every configured Alertmanager (POST /api/v2/alerts) over
// Beast on the daemon's loop. Nothing here blocks: each Alertmanager has its
// own queue, one request in flight at most, a deadline on every request, and
// a capped exponential backoff after failures. A dead Alertmanager only grows
// (a bounded) queue; probes and the other Alertmanagers carry on.
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

#include "alerts/evaluator.hpp"
#include "config/config.hpp"

namespace pgvigil {

// An Alertmanager base URL split up: http:// or https:// (the server's
// certificate is verified against the system's trust store, which OpenSSL's
// SSL_CERT_FILE / SSL_CERT_DIR can replace). user:password@ in the URL is
// refused so a secret never ends up in a metric label or a log line.
struct AlertmanagerUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;     // base path, no trailing slash ("" or "/alertmanager")
  std::string display;  // scheme://host:port/path, for labels and logs
};
// Returns nullopt with *error set on a URL the client cannot use.
std::optional<AlertmanagerUrl> parse_alertmanager_url(const std::string& url, std::string* error);

// The Authorization header value from the alerting config ("Basic ...",
// "Bearer ..." or "" for none), reading the secret files. On an unreadable
// file returns "" and sets *error (naming the file, never its contents).
std::string alertmanager_authorization(const config::AlertingConfig& alerting, std::string* error);

std::string base64_encode(std::string_view data);
// RFC 3339 UTC with milliseconds, e.g. 2026-11-22T06:12:50.123Z.
std::string rfc3339(alerts::Clock::time_point time);

// The JSON object Alertmanager's API v2 expects for one alert (postableAlert).
// Firing alerts end at `firing_ends_at` unless re-sent; resolved ones at their
// resolve time.
std::string alert_json(const alerts::Alert& alert, alerts::Clock::time_point firing_ends_at,
                       const std::string& generator_url);

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
