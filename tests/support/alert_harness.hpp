#pragma once
// Test-only: a real Alertmanager (Debian's prometheus-alertmanager) on
// loopback and the webhook receiver it notifies, so that tests can assert on
// what an on-call would actually be paged with. Blocking calls are fine here.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pgvigil::test {

using SteadyClock = std::chrono::steady_clock;

// A loopback HTTP listener that answers every request with `status` and keeps
// what it received (stands in for a webhook receiver, or for Alertmanager
// itself in client tests). Throws std::runtime_error when it cannot listen.
class HttpRecorder {
 public:
  struct Request {
    std::string head;  // request line and headers
    std::string body;
    SteadyClock::time_point at;  // when the whole request had arrived
  };

  explicit HttpRecorder(int status = 200);
  ~HttpRecorder();
  HttpRecorder(const HttpRecorder&) = delete;
  HttpRecorder& operator=(const HttpRecorder&) = delete;

  int port() const { return port_; }
  // What later requests get (a discovery endpoint, for instance).
  void set_reply(int status, std::string body, std::string content_type = "application/json");
  std::vector<Request> requests() const;
  std::size_t count() const;

 private:
  void serve();
  void handle(int client);

  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::string body_;
  std::string content_type_;
};

// A loopback TCP port that was free a moment ago.
int free_loopback_port();

// Whether prometheus-alertmanager is on PATH.
bool has_alertmanager();

struct AlertmanagerOptions {
  int webhook_port = 0;
  // group_by of the route, as YAML list items. "'...'" puts every alert in a
  // group of its own, so one webhook body carries exactly one alert.
  std::string group_by = "'alertname', 'target'";
  std::string web_config;  // YAML of --web.config.file (TLS), empty for plain HTTP
};

// A real Alertmanager on 127.0.0.1:port(), clustering off, that sends every
// group to the webhook at once (group_wait 100ms, group_interval 1s) with
// resolved notifications on. Storage is fresh on every start().
class AlertmanagerProcess {
 public:
  explicit AlertmanagerProcess(AlertmanagerOptions options);
  ~AlertmanagerProcess();  // stops it and removes its files
  AlertmanagerProcess(const AlertmanagerProcess&) = delete;
  AlertmanagerProcess& operator=(const AlertmanagerProcess&) = delete;

  // Starts it and waits (bounded) until it is ready; throws std::runtime_error
  // with its log otherwise.
  void start();
  void stop();  // SIGTERM to its pid, SIGKILL after 5 s
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const;

 private:
  AlertmanagerOptions options_;
  int port_;
  std::string dir_;
  std::string web_config_path_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// One alert of one webhook notification, as Alertmanager sent it.
struct WebhookAlert {
  std::string status;  // firing | resolved (the alert's own status)
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string starts_at, ends_at;
  SteadyClock::time_point received_at;
  std::size_t request_index = 0;  // position of its request in the recorder

  std::string label(const std::string& name) const;
  std::string annotation(const std::string& name) const;
};

// Every alert of every request from index `skip` on. Bodies that are not an
// Alertmanager webhook payload are skipped.
std::vector<WebhookAlert> webhook_alerts(const HttpRecorder& hook, std::size_t skip = 0);

// The alerts named `alertname` with `status` whose labels include all of
// `labels`, in order of arrival.
std::vector<WebhookAlert> matching_alerts(const HttpRecorder& hook, const std::string& alertname,
                                          const std::string& status,
                                          const std::map<std::string, std::string>& labels = {},
                                          std::size_t skip = 0);

// Polls until the first such alert has arrived; nullopt after `limit`.
std::optional<WebhookAlert> wait_for_alert(const HttpRecorder& hook, const std::string& alertname,
                                           const std::string& status,
                                           const std::map<std::string, std::string>& labels,
                                           std::chrono::milliseconds limit, std::size_t skip = 0);

}  // namespace pgvigil::test
