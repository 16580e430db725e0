#pragma once
// Test-only: runs the real pgvigil binary as a child process with a config the
// test writes, and talks HTTP to it on loopback. Blocking calls are fine here.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgvigil::test {

struct HttpReply {
  int status = 0;                              // 0 when the request failed
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};
// One request over a fresh loopback connection; bounded by `timeout`.
HttpReply http_get(int port, const std::string& path,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
                   const std::string& extra_headers = "");

// Any method with an optional body (sent with Content-Type: application/json).
HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
                       const std::string& extra_headers = "");

// Finds a sample in Prometheus text: name plus every listed label must match.
std::optional<double> metric_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});
std::size_t metric_series(const std::string& text, const std::string& name,
                          const std::map<std::string, std::string>& labels = {});

// Polls `condition` every `step` until it holds or `limit` passes; returns the
// time it took, or nullopt on timeout.
std::optional<std::chrono::milliseconds> wait_until(
    const std::function<bool()>& condition, std::chrono::milliseconds limit,
    std::chrono::milliseconds step = std::chrono::milliseconds(50));

std::string make_temp_dir(
    const std::string& prefix);  // world-traversable (servers run as postgres)
void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

class DaemonProcess {
 public:
  // Writes `config_toml` to a file in a temp dir (replacing "@STATE@" by a
  // state directory there), starts `pgvigil run -c FILE` with stderr/stdout to
  // a log file, and waits (bounded) until its HTTP port is known. The config
  // must listen on 127.0.0.1:0.
  explicit DaemonProcess(const std::string& config_toml, std::vector<std::string> extra_args = {});
  ~DaemonProcess();  // SIGTERM, then SIGKILL after 3 s; removes the temp dir
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const;  // everything the daemon wrote so far
  std::string config_path() const { return config_path_; }
  std::string dir() const { return dir_; }
  std::string metrics() const;  // GET /metrics body ("" on failure)
  std::optional<double> metric(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const;
  void signal(int sig) const;
  // Sends SIGTERM and waits up to `limit`; returns the exit status or nullopt.
  std::optional<int> terminate(std::chrono::milliseconds limit);

 private:
  std::string dir_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace pgvigil::test
