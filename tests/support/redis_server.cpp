#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <thread>

#include "support/daemon_process.hpp"

namespace pgvigil::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRedisServer = "/usr/bin/redis-server";

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// One RESP reply from `buffer` at `pos`; nullopt while incomplete. Arrays
// come back as their elements joined by '\n'.
std::optional<std::string> parse_reply(const std::string& buffer, std::size_t& pos) {
  const auto line_end = buffer.find("\r\n", pos);
  if (pos >= buffer.size() || line_end == std::string::npos) return std::nullopt;
  const char type = buffer[pos];
  const std::string line = buffer.substr(pos + 1, line_end - pos - 1);
  std::size_t next = line_end + 2;
  if (type == '+' || type == ':') {
    pos = next;
    return line;
  }
  if (type == '-') {
    pos = next;
    return "-" + line;
  }
  if (type == '$') {
    const long length = std::strtol(line.c_str(), nullptr, 10);
    if (length < 0) {
      pos = next;
      return std::string();
    }
    if (buffer.size() < next + static_cast<std::size_t>(length) + 2) return std::nullopt;
    pos = next + static_cast<std::size_t>(length) + 2;
    return buffer.substr(next, static_cast<std::size_t>(length));
  }
  if (type == '*') {
    const long count = std::strtol(line.c_str(), nullptr, 10);
    std::string joined;
    for (long i = 0; i < count; ++i) {
      auto element = parse_reply(buffer, next);
      if (!element) return std::nullopt;
      if (i > 0) joined += '\n';
      joined += *element;
    }
    pos = next;
    return joined;
  }
  pos = next;
  return "?" + line;
}

std::string encode(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  return out;
}

// Sends `request` and reads `replies` replies (2 s per read); the last one.
std::string exchange(int port, const std::string& request, int replies) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string last;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    std::string buffer;
    std::size_t pos = 0;
    char chunk[16384];
    for (int got = 0; got < replies;) {
      if (auto reply = parse_reply(buffer, pos)) {
        last = *reply;
        ++got;
        continue;
      }
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        last.clear();
        break;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return last;
}

}  // namespace

RedisServer::RedisServer(std::vector<std::string> extra_args, int port)
    : extra_args_(std::move(extra_args)) {
  for (std::size_t i = 0; i + 1 < extra_args_.size(); ++i)
    if (extra_args_[i] == "--requirepass") password_ = extra_args_[i + 1];
  dir_ = make_temp_dir("pgvigil-redis");
  data_dir_ = dir_ + "/data";
  std::filesystem::create_directories(data_dir_);
  port_ = port != 0 ? port : free_port();
  try {
    start();
  } catch (...) {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::log() const {
  return read_file(dir_ + "/redis.log");
}

void RedisServer::start() {
  std::vector<std::string> args = {kRedisServer,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   data_dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--protected-mode",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const std::string out_path = dir_ + "/redis.out";
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(kRedisServer, argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start: " + read_file(out_path) + log());
    }
    if (answers_ping()) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                           " did not answer PING within 10 s: " + log());
}

bool RedisServer::answers_ping() const {
  const auto reply = exchange(port_, encode({"PING"}), 1);
  // With requirepass an unauthenticated PING is refused (-NOAUTH): it is up.
  return reply == "PONG" || reply.starts_with("-NOAUTH");
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
}

void RedisServer::restart() {
  kill();
  std::filesystem::create_directories(data_dir_);
  start();
}

std::string RedisServer::command(const std::vector<std::string>& args,
                                 const std::string& password) const {
  const std::string& auth = password.empty() ? password_ : password;
  if (auth.empty()) return exchange(port_, encode(args), 1);
  return exchange(port_, encode({"AUTH", auth}) + encode(args), 2);
}

std::string RedisServer::info(const std::string& section, const std::string& password) const {
  return command({"INFO", section}, password);
}

}  // namespace pgvigil::test
