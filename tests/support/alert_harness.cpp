#include "support/alert_harness.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

namespace pgvigil::test {

using namespace std::chrono_literals;

namespace {

int listen_on_loopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot listen on a loopback port");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

HttpRecorder::HttpRecorder(int status) : status_(status) {
  fd_ = listen_on_loopback(&port_);
  thread_ = std::thread([this] { serve(); });
}

HttpRecorder::~HttpRecorder() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::vector<HttpRecorder::Request> HttpRecorder::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t HttpRecorder::count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void HttpRecorder::serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    handle(client);
    ::close(client);
  }
}

void HttpRecorder::handle(int client) {
  std::string data;
  std::size_t header_end = std::string::npos;
  std::size_t want = 0;
  const auto deadline = SteadyClock::now() + 3s;
  char buffer[8192];
  while (SteadyClock::now() < deadline) {
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const auto n = ::recv(client, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      std::string lower = data.substr(0, header_end);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto at = lower.find("content-length:");
      if (at != std::string::npos) {
        try {
          want = std::stoul(lower.substr(at + 15));
        } catch (const std::exception&) {
          want = 0;  // a malformed length: keep what arrived with the headers
        }
      }
    }
    if (data.size() >= header_end + 4 + want) break;
  }
  if (header_end == std::string::npos) return;
  std::string reply;
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(
        {data.substr(0, header_end), data.substr(header_end + 4, want), SteadyClock::now()});
    reply = "HTTP/1.1 " + std::to_string(status_) +
            " X\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n" +
            (content_type_.empty() ? "" : "Content-Type: " + content_type_ + "\r\n") +
            "Connection: close\r\n\r\n" + body_;
  }
  ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
}

void HttpRecorder::set_reply(int status, std::string body, std::string content_type) {
  std::lock_guard lock(mutex_);
  status_ = status;
  body_ = std::move(body);
  content_type_ = std::move(content_type);
}

int free_loopback_port() {
  int port = 0;
  ::close(listen_on_loopback(&port));
  return port;
}

bool has_alertmanager() {
  int code = 0;
  run_command("command -v prometheus-alertmanager", &code);
  return code == 0;
}

AlertmanagerProcess::AlertmanagerProcess(AlertmanagerOptions options)
    : options_(std::move(options)), port_(free_loopback_port()) {
  dir_ = make_temp_dir("pgvigil-am");
  if (!options_.web_config.empty()) {
    web_config_path_ = dir_ + "/web.yml";
    write_file(web_config_path_, options_.web_config);
  }
  write_file(dir_ + "/alertmanager.yml",
             "route:\n"
             "  receiver: webhook\n"
             "  group_by: [" +
                 options_.group_by +
                 "]\n"
                 "  group_wait: 100ms\n"
                 "  group_interval: 1s\n"
                 "  repeat_interval: 1h\n"
                 "receivers:\n"
                 "  - name: webhook\n"
                 "    webhook_configs:\n"
                 "      - url: 'http://127.0.0.1:" +
                 std::to_string(options_.webhook_port) +
                 "/hook'\n"
                 "        send_resolved: true\n");
}

AlertmanagerProcess::~AlertmanagerProcess() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void AlertmanagerProcess::start() {
  if (pid_ > 0) return;
  const std::string storage = dir_ + "/data-" + std::to_string(++starts_);
  std::filesystem::create_directories(storage);
  std::vector<std::string> args{
      "prometheus-alertmanager",   "--config.file=" + dir_ + "/alertmanager.yml",
      "--storage.path=" + storage, "--web.listen-address=127.0.0.1:" + std::to_string(port_),
      "--cluster.listen-address=", "--log.level=debug"};
  if (!web_config_path_.empty()) args.push_back("--web.config.file=" + web_config_path_);
  const std::string log_path = dir_ + "/alertmanager.log";
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execvp("prometheus-alertmanager", argv.data());
    ::_exit(127);
  }
  // Over TLS the plain probe gets a 400 (an HTTP request to an HTTPS port).
  const bool tls = !web_config_path_.empty();
  const auto ready = wait_until(
      [&] {
        const auto status = http_get(port_, "/-/ready", 500ms).status;
        return status == 200 || (tls && status == 400);
      },
      30s, 100ms);
  if (!ready) {
    stop();
    throw std::runtime_error("Alertmanager did not become ready:\n" + log());
  }
}

void AlertmanagerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string AlertmanagerProcess::log() const {
  return read_file(dir_ + "/alertmanager.log");
}

std::string WebhookAlert::label(const std::string& name) const {
  const auto it = labels.find(name);
  return it == labels.end() ? std::string{} : it->second;
}

std::string WebhookAlert::annotation(const std::string& name) const {
  const auto it = annotations.find(name);
  return it == annotations.end() ? std::string{} : it->second;
}

std::vector<WebhookAlert> webhook_alerts(const HttpRecorder& hook, std::size_t skip) {
  namespace pt = boost::property_tree;
  std::vector<WebhookAlert> out;
  const auto all = hook.requests();
  for (std::size_t i = skip; i < all.size(); ++i) {
    pt::ptree payload;
    try {
      std::istringstream in(all[i].body);
      pt::read_json(in, payload);
    } catch (const pt::json_parser_error&) {
      continue;
    }
    const auto alerts = payload.get_child_optional("alerts");
    if (!alerts) continue;
    for (const auto& [unused_key, node] : *alerts) {
      WebhookAlert alert;
      alert.status = node.get<std::string>("status", "");
      if (const auto labels = node.get_child_optional("labels"))
        for (const auto& [name, value] : *labels) alert.labels[name] = value.data();
      if (const auto annotations = node.get_child_optional("annotations"))
        for (const auto& [name, value] : *annotations) alert.annotations[name] = value.data();
      alert.starts_at = node.get<std::string>("startsAt", "");
      alert.ends_at = node.get<std::string>("endsAt", "");
      alert.received_at = all[i].at;
      alert.request_index = i;
      out.push_back(std::move(alert));
    }
  }
  return out;
}

std::vector<WebhookAlert> matching_alerts(const HttpRecorder& hook, const std::string& alertname,
                                          const std::string& status,
                                          const std::map<std::string, std::string>& labels,
                                          std::size_t skip) {
  std::vector<WebhookAlert> out;
  for (auto& alert : webhook_alerts(hook, skip)) {
    if (alert.label("alertname") != alertname || alert.status != status) continue;
    bool all_match = true;
    for (const auto& [name, value] : labels)
      if (alert.label(name) != value) all_match = false;
    if (all_match) out.push_back(std::move(alert));
  }
  return out;
}

std::optional<WebhookAlert> wait_for_alert(const HttpRecorder& hook, const std::string& alertname,
                                           const std::string& status,
                                           const std::map<std::string, std::string>& labels,
                                           std::chrono::milliseconds limit, std::size_t skip) {
  std::optional<WebhookAlert> found;
  wait_until(
      [&] {
        auto alerts = matching_alerts(hook, alertname, status, labels, skip);
        if (alerts.empty()) return false;
        found = std::move(alerts.front());
        return true;
      },
      limit, 50ms);
  return found;
}

}  // namespace pgvigil::test
