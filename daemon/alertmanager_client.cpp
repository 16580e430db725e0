#include "daemon/alertmanager_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "config/secret_file.hpp"

namespace pgvigil {

namespace asio = boost::asio;

std::optional<HttpUrl> parse_alertmanager_url(const std::string& url, std::string* error) {
  std::string why;
  auto parsed = parse_http_url(url, &why, UrlCredentials::refused);
  if (!parsed && error != nullptr) {
    *error = "Alertmanager " + why;
    if (why.find("credentials") != std::string::npos)
      *error += "; use basic_auth_user and basic_auth_password_file";
  }
  return parsed;
}

std::string alertmanager_authorization(const config::AlertingConfig& alerting, std::string* error) {
  return authorization_from_files(alerting.basic_auth_user, alerting.basic_auth_password_file,
                                  alerting.bearer_token_file, error);
}

struct AlertmanagerClient::Endpoint : std::enable_shared_from_this<Endpoint> {
  struct Queued {
    std::uint64_t seq = 0;
    std::string json;
  };
  Endpoint(asio::io_context& context, HttpUrl parsed, AlertmanagerClient& owner)
      : url(std::move(parsed)),
        client(context),
        retry_timer(context),
        success(&owner.notifications_.Add({{"alertmanager", url.display}, {"result", "success"}})),
        failure(&owner.notifications_.Add({{"alertmanager", url.display}, {"result", "failure"}})),
        rejected(
            &owner.notifications_.Add({{"alertmanager", url.display}, {"result", "rejected"}})),
        dropped(&owner.dropped_.Add({{"alertmanager", url.display}})),
        latency(&owner.latency_.Add({{"alertmanager", url.display}},
                                    prometheus::Histogram::BucketBoundaries{
                                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})) {
  }

  void enqueue(const std::vector<std::pair<std::string, std::string>>& alerts) {
    if (stopped) return;
    for (const auto& [fingerprint, json] : alerts) queue[fingerprint] = Queued{++seq, json};
    while (queue.size() > options.max_queued_alerts) {
      auto oldest = std::min_element(queue.begin(), queue.end(), [](const auto& a, const auto& b) {
        return a.second.seq < b.second.seq;
      });
      queue.erase(oldest);
      dropped->Increment();
    }
    kick();
  }

  void kick() {
    if (stopped || in_flight || waiting_retry || queue.empty()) return;
    in_flight = true;
    sending.clear();
    std::string body = "[";
    for (const auto& [fingerprint, item] : queue) {
      if (body.size() > 1) body += ',';
      body += item.json;
      sending.emplace(fingerprint, item.seq);
    }
    body += ']';

    HttpRequest request;
    request.method = HttpRequest::Method::post;
    request.path = "/api/v2/alerts";
    request.content_type = "application/json";
    request.authorization = options.authorization;
    request.body = std::move(body);
    client.send(url, std::move(request), options.timeout, kReplyLimit,
                [self = shared_from_this()](HttpResult result) { self->finish(result); });
  }

  void finish(const HttpResult& result) {
    in_flight = false;
    if (stopped) return;
    const bool ok = result.ok;
    const bool client_error = result.status >= 400 && result.status < 500;
    const std::string& why = result.error;
    latency->Observe(std::chrono::duration<double>(result.elapsed).count());
    if (ok || client_error) {
      // A 4xx will not get better by repeating it: drop what was sent.
      for (const auto& [fingerprint, sent_seq] : sending) {
        auto it = queue.find(fingerprint);
        if (it != queue.end() && it->second.seq == sent_seq) queue.erase(it);
      }
    }
    if (ok) {
      success->Increment();
      if (failing) spdlog::info("alertmanager {}: delivering again", url.display);
      failing = false;
      backoff = std::chrono::milliseconds::zero();
      kick();
      return;
    }
    if (client_error) {
      rejected->Increment();
      spdlog::error("alertmanager {}: rejected {} alerts: {}", url.display, sending.size(), why);
      kick();
      return;
    }
    failure->Increment();
    backoff = backoff == std::chrono::milliseconds::zero()
                  ? options.backoff_initial
                  : std::min(backoff * 2, options.backoff_cap);
    if (!failing)
      spdlog::warn("alertmanager {}: send failed ({}); retrying with backoff", url.display, why);
    else
      spdlog::debug("alertmanager {}: send failed ({}); retry in {} ms", url.display, why,
                    backoff.count());
    failing = true;
    waiting_retry = true;
    auto self = shared_from_this();
    retry_timer.expires_after(backoff);
    retry_timer.async_wait([self](boost::system::error_code ec) {
      if (ec) return;
      self->waiting_retry = false;
      self->kick();
    });
  }

  void stop() {
    stopped = true;
    client.cancel();
    retry_timer.cancel();
    queue.clear();
  }

  static constexpr std::size_t kReplyLimit = 64 * 1024;

  HttpUrl url;
  AlertmanagerClientOptions options;
  HttpClient client;
  asio::steady_timer retry_timer;
  prometheus::Counter* success;
  prometheus::Counter* failure;
  prometheus::Counter* rejected;
  prometheus::Counter* dropped;
  prometheus::Histogram* latency;
  std::map<std::string, Queued> queue;  // by alert fingerprint
  std::map<std::string, std::uint64_t> sending;
  std::uint64_t seq = 0;
  std::chrono::milliseconds backoff{0};
  bool in_flight = false;
  bool waiting_retry = false;
  bool failing = false;
  bool stopped = false;
};

AlertmanagerClient::AlertmanagerClient(asio::io_context& io, prometheus::Registry& registry)
    : io_(io),
      notifications_(prometheus::BuildCounter()
                         .Name("pgvigil_alertmanager_notifications_total")
                         .Help("Requests sent to each Alertmanager, by result (success, failure: "
                               "network error, timeout or 5xx, retried; rejected: 4xx, dropped).")
                         .Register(registry)),
      dropped_(prometheus::BuildCounter()
                   .Name("pgvigil_alertmanager_alerts_dropped_total")
                   .Help("Alert updates dropped because an Alertmanager's queue was full.")
                   .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("pgvigil_alertmanager_latency_seconds")
                   .Help("Time from starting a request to an Alertmanager to its outcome.")
                   .Register(registry)) {}

AlertmanagerClient::~AlertmanagerClient() {
  stop();
}

void AlertmanagerClient::configure(AlertmanagerClientOptions options) {
  options_ = std::move(options);
  std::vector<std::shared_ptr<Endpoint>> next;
  for (const auto& url : options_.urls) {
    std::string error;
    auto parsed = parse_alertmanager_url(url, &error);
    if (!parsed) {
      spdlog::error("alertmanager {}: {}", url, error);
      continue;
    }
    auto existing = std::find_if(endpoints_.begin(), endpoints_.end(), [&](const auto& e) {
      return e && e->url.display == parsed->display;
    });
    std::shared_ptr<Endpoint> endpoint;
    if (existing != endpoints_.end()) {
      endpoint = std::move(*existing);
    } else {
      endpoint = std::make_shared<Endpoint>(io_, *parsed, *this);
    }
    endpoint->options = options_;
    next.push_back(std::move(endpoint));
  }
  for (auto& old : endpoints_)
    if (old) old->stop();
  endpoints_ = std::move(next);
}

void AlertmanagerClient::send(const std::vector<std::pair<std::string, std::string>>& alerts) {
  if (alerts.empty()) return;
  for (auto& endpoint : endpoints_) endpoint->enqueue(alerts);
}

void AlertmanagerClient::stop() {
  for (auto& endpoint : endpoints_) endpoint->stop();
  endpoints_.clear();
}

std::size_t AlertmanagerClient::queued(std::size_t index) const {
  return index < endpoints_.size() ? endpoints_[index]->queue.size() : 0;
}

}  // namespace pgvigil
