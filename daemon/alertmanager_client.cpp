#include "daemon/alertmanager_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <ctime>
#include <fstream>
#include <map>

#include "daemon/pages.hpp"

namespace pgvigil {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::optional<AlertmanagerUrl> parse_alertmanager_url(const std::string& url, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<AlertmanagerUrl> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  std::string_view rest(url);
  const bool tls = rest.starts_with("https://");
  if (!tls && !rest.starts_with("http://"))
    return fail("Alertmanager URL must start with http:// or https://");
  rest.remove_prefix(tls ? 8 : 7);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? "" : rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string_view::npos)
    return fail(
        "credentials in the Alertmanager URL are not allowed; use basic_auth_user and "
        "basic_auth_password_file");
  if (path.find_first_of("?#") != std::string::npos)
    return fail("Alertmanager URL must not have a query or fragment");
  AlertmanagerUrl out;
  out.tls = tls;
  out.port = tls ? "443" : "80";
  if (authority.starts_with('[')) {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6] host");
    out.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (after.starts_with(':')) out.port = std::string(after.substr(1));
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.empty()) return fail("Alertmanager URL has no host");
  if (out.port.empty() || out.port.size() > 5 ||
      !std::all_of(out.port.begin(), out.port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return fail("Alertmanager URL has an invalid port");
  out.path = path;
  out.display = (tls ? "https://" : "http://") + std::string(authority) + path;
  return out;
}

std::string base64_encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(data[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < data.size()) {
    auto n = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size())
      n |= static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

// The first line of a secret file, without the line end.
std::optional<std::string> read_secret(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::string alertmanager_authorization(const config::AlertingConfig& alerting, std::string* error) {
  if (!alerting.bearer_token_file.empty()) {
    auto token = read_secret(alerting.bearer_token_file);
    if (!token || token->empty()) {
      if (error != nullptr) *error = "cannot read a token from " + alerting.bearer_token_file;
      return {};
    }
    return "Bearer " + *token;
  }
  if (!alerting.basic_auth_user.empty()) {
    auto password = read_secret(alerting.basic_auth_password_file);
    if (!password) {
      if (error != nullptr)
        *error = "cannot read the password file " + alerting.basic_auth_password_file;
      return {};
    }
    return "Basic " + base64_encode(alerting.basic_auth_user + ":" + *password);
  }
  return {};
}

std::string rfc3339(alerts::Clock::time_point time) {
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

std::string alert_json(const alerts::Alert& alert, alerts::Clock::time_point firing_ends_at,
                       const std::string& generator_url) {
  std::string json = "{\"labels\":{";
  bool first = true;
  for (const auto& [name, value] : alert.labels) {
    json += (first ? "\"" : ",\"") + json_escape(name) + "\":\"" + json_escape(value) + "\"";
    first = false;
  }
  json += "},\"annotations\":{\"summary\":\"" + json_escape(alert.summary) +
          "\",\"description\":\"" + json_escape(alert.description) + "\",\"runbook_url\":\"" +
          json_escape(alert.runbook_url) + "\"";
  if (!alert.evidence.empty()) json += ",\"evidence\":\"" + json_escape(alert.evidence) + "\"";
  const auto ends =
      alert.state == alerts::AlertState::resolved ? alert.resolved_at : firing_ends_at;
  json += "},\"startsAt\":\"" + rfc3339(alert.fired_at) + "\",\"endsAt\":\"" + rfc3339(ends) +
          "\",\"generatorURL\":\"" + json_escape(generator_url) + "\"}";
  return json;
}

struct AlertmanagerClient::Endpoint : std::enable_shared_from_this<Endpoint> {
  struct Queued {
    std::uint64_t seq = 0;
    std::string json;
  };
  struct Exchange {
    explicit Exchange(asio::io_context& io) : socket(io), deadline(io) {}
    tcp::socket socket;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;  // set for https
    asio::steady_timer deadline;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> request;
    bhttp::response_parser<bhttp::string_body> parser;
    std::chrono::steady_clock::time_point started;
    bool finished = false;
  };

  Endpoint(asio::io_context& context, AlertmanagerUrl parsed, AlertmanagerClient& owner)
      : io(context),
        url(std::move(parsed)),
        resolver(context),
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

    auto exchange = std::make_shared<Exchange>(io);
    current = exchange;
    exchange->started = std::chrono::steady_clock::now();
    auto& request = exchange->request;
    request.method(bhttp::verb::post);
    request.target(url.path + "/api/v2/alerts");
    request.version(11);
    const bool v6 = url.host.find(':') != std::string::npos;
    request.set(bhttp::field::host, (v6 ? "[" + url.host + "]" : url.host) + ":" + url.port);
    request.set(bhttp::field::user_agent, "pgvigil/" PGVIGIL_VERSION);
    request.set(bhttp::field::content_type, "application/json");
    request.set(bhttp::field::connection, "close");
    if (!options.authorization.empty())
      request.set(bhttp::field::authorization, options.authorization);
    request.body() = std::move(body);
    request.prepare_payload();
    exchange->parser.body_limit(64 * 1024);

    auto self = shared_from_this();
    exchange->deadline.expires_after(options.timeout);
    exchange->deadline.async_wait([self, exchange](boost::system::error_code ec) {
      if (ec || exchange->finished) return;
      // Whatever step is running completes with operation_aborted.
      self->resolver.cancel();
      boost::system::error_code ignored;
      exchange->socket.close(ignored);
      self->finish(exchange, false, "timed out");
    });
    resolver.async_resolve(
        url.host, url.port,
        [self, exchange](boost::system::error_code ec, const tcp::resolver::results_type& results) {
          if (exchange->finished) return;
          if (ec) return self->finish(exchange, false, "resolve: " + ec.message());
          asio::async_connect(
              exchange->socket, results,
              [self, exchange](boost::system::error_code connect_ec, const tcp::endpoint&) {
                if (exchange->finished) return;
                if (connect_ec)
                  return self->finish(exchange, false, "connect: " + connect_ec.message());
                if (!self->url.tls) return self->exchange_http(exchange, exchange->socket);
                self->start_tls(exchange);
              });
        });
  }

  void start_tls(const std::shared_ptr<Exchange>& exchange) {
    if (!ssl) {
      ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      ssl->set_default_verify_paths();
      ssl->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                       asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    }
    exchange->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(exchange->socket, *ssl);
    auto& stream = *exchange->tls;
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    boost::system::error_code address_ec;
    asio::ip::make_address(url.host, address_ec);
    if (address_ec)  // SNI is for names only
      SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
    auto self = shared_from_this();
    stream.async_handshake(asio::ssl::stream_base::client,
                           [self, exchange](boost::system::error_code ec) {
                             if (exchange->finished) return;
                             if (ec) return self->finish(exchange, false, "TLS: " + ec.message());
                             self->exchange_http(exchange, *exchange->tls);
                           });
  }

  // Writes the request and reads the answer over a plain or TLS stream (the
  // exchange owns both, so the reference stays valid).
  template <class Stream>
  void exchange_http(const std::shared_ptr<Exchange>& exchange, Stream& stream) {
    auto self = shared_from_this();
    bhttp::async_write(stream, exchange->request,
                       [self, exchange, &stream](boost::system::error_code write_ec, std::size_t) {
                         if (exchange->finished) return;
                         if (write_ec)
                           return self->finish(exchange, false, "write: " + write_ec.message());
                         bhttp::async_read(
                             stream, exchange->buffer, exchange->parser,
                             [self, exchange](boost::system::error_code read_ec, std::size_t) {
                               if (exchange->finished) return;
                               if (read_ec)
                                 return self->finish(exchange, false, "read: " + read_ec.message());
                               const auto status = exchange->parser.get().result_int();
                               if (status >= 200 && status < 300)
                                 return self->finish(exchange, true, {});
                               self->finish(exchange, false, "HTTP " + std::to_string(status),
                                            status >= 400 && status < 500);
                             });
                       });
  }

  void finish(const std::shared_ptr<Exchange>& exchange, bool ok, const std::string& why,
              bool client_error = false) {
    exchange->finished = true;
    exchange->deadline.cancel();
    boost::system::error_code ignored;
    exchange->socket.close(ignored);
    in_flight = false;
    if (stopped) return;
    latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - exchange->started)
            .count());
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
    if (auto exchange = current.lock()) {
      exchange->finished = true;
      exchange->deadline.cancel();
      boost::system::error_code ignored;
      exchange->socket.close(ignored);
    }
    resolver.cancel();
    retry_timer.cancel();
    queue.clear();
  }

  asio::io_context& io;
  AlertmanagerUrl url;
  AlertmanagerClientOptions options;
  tcp::resolver resolver;
  std::unique_ptr<asio::ssl::context> ssl;  // made on first use, for https only
  asio::steady_timer retry_timer;
  prometheus::Counter* success;
  prometheus::Counter* failure;
  prometheus::Counter* rejected;
  prometheus::Counter* dropped;
  prometheus::Histogram* latency;
  std::map<std::string, Queued> queue;  // by alert fingerprint
  std::map<std::string, std::uint64_t> sending;
  std::weak_ptr<Exchange> current;
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
