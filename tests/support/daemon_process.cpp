#include "support/daemon_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pgvigil::test {

namespace {
using Clock = std::chrono::steady_clock;

int connect_loopback(int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    ::close(fd);
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string dechunk(const std::string& body) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const auto size = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    out += body.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}
}  // namespace

HttpReply http_get(int port, const std::string& path, std::chrono::milliseconds timeout,
                   const std::string& extra_headers) {
  return http_request(port, "GET", path, "", timeout, extra_headers);
}

HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body, std::chrono::milliseconds timeout,
                       const std::string& extra_headers) {
  HttpReply reply;
  const auto deadline = Clock::now() + timeout;
  int fd = connect_loopback(port, timeout);
  if (fd < 0) return reply;
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!body.empty() || method != "GET")
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "Connection: close\r\n\r\n" + body;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return reply;
  }
  std::string raw;
  char buffer[65536];
  for (int rounds = 0; rounds < 100000; ++rounds) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) != 1) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos || raw.size() < 12) return reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  std::istringstream headers(raw.substr(0, header_end));
  std::string line;
  std::getline(headers, line);
  while (std::getline(headers, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(value.begin());
    reply.headers[lower(line.substr(0, colon))] = value;
  }
  reply.body = raw.substr(header_end + 4);
  if (lower(reply.headers["transfer-encoding"]) == "chunked") reply.body = dechunk(reply.body);
  return reply;
}

namespace {
bool labels_match(const std::string& label_text, const std::map<std::string, std::string>& want) {
  for (const auto& [name, value] : want)
    if (label_text.find(name + "=\"" + value + "\"") == std::string::npos) return false;
  return true;
}

template <class Visit>
void for_each_sample(const std::string& text, const std::string& name, Visit visit) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    std::string labels;
    std::size_t value_start = name.size() + 1;
    if (next == '{') {
      auto close = line.rfind('}');
      if (close == std::string::npos) continue;
      labels = line.substr(name.size(), close - name.size() + 1);
      value_start = close + 2;
    }
    if (value_start > line.size()) continue;
    visit(labels, line.substr(value_start));
  }
}
}  // namespace

std::optional<double> metric_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::optional<double> found;
  for_each_sample(text, name, [&](const std::string& label_text, const std::string& value) {
    if (!found && labels_match(label_text, labels)) {
      try {
        found = std::stod(value);
      } catch (const std::exception&) {
      }
    }
  });
  return found;
}

std::size_t metric_series(const std::string& text, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  std::size_t count = 0;
  for_each_sample(text, name, [&](const std::string& label_text, const std::string&) {
    if (labels_match(label_text, labels)) ++count;
  });
  return count;
}

std::optional<std::chrono::milliseconds> wait_until(const std::function<bool()>& condition,
                                                    std::chrono::milliseconds limit,
                                                    std::chrono::milliseconds step) {
  const auto start = Clock::now();
  const auto max_rounds = limit.count() / std::max<long long>(1, step.count()) + 2;
  for (long long round = 0; round < max_rounds; ++round) {
    if (condition())
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (Clock::now() - start > limit) break;
    std::this_thread::sleep_for(step);
  }
  return std::nullopt;
}

std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + ".XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  ::chmod(pattern.c_str(), 0755);
  return pattern;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

DaemonProcess::DaemonProcess(const std::string& config_toml, std::vector<std::string> extra_args) {
  dir_ = make_temp_dir("pgvigil-daemon");
  const std::string state = dir_ + "/state";
  std::filesystem::create_directories(state);
  std::string text = config_toml;
  for (auto pos = text.find("@STATE@"); pos != std::string::npos; pos = text.find("@STATE@"))
    text.replace(pos, 7, state);
  config_path_ = dir_ + "/pgvigil.toml";
  log_path_ = dir_ + "/pgvigil.log";
  write_file(config_path_, text);
  ::chmod(config_path_.c_str(), 0600);

  std::vector<std::string> args{PGVIGIL_BINARY, "run", "-c", config_path_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)/");
  auto found = wait_until(
      [&] {
        std::smatch match;
        const std::string current = read_file(log_path_);
        if (std::regex_search(current, match, listening)) {
          port_ = std::stoi(match[1]);
          return true;
        }
        int status = 0;
        return waitpid(pid_, &status, WNOHANG) == pid_;
      },
      std::chrono::milliseconds(10000));
  if (!found || port_ == 0)
    throw std::runtime_error("pgvigil did not start; its log:\n" + read_file(log_path_));
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) terminate(std::chrono::milliseconds(3000));
  if (pid_ > 0) {  // still running after SIGTERM (terminate() resets pid_ once reaped)
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string DaemonProcess::log() const {
  return read_file(log_path_);
}

std::string DaemonProcess::metrics() const {
  auto reply = http_get(port_, "/metrics");
  return reply.status == 200 ? reply.body : std::string();
}

std::optional<double> DaemonProcess::metric(
    const std::string& name, const std::map<std::string, std::string>& labels) const {
  return metric_value(metrics(), name, labels);
}

void DaemonProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> DaemonProcess::terminate(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, SIGTERM);
  int status = 0;
  std::optional<int> result;
  wait_until(
      [&] {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        }
        return false;
      },
      limit, std::chrono::milliseconds(20));
  if (result) pid_ = -1;
  return result;
}

}  // namespace pgvigil::test
