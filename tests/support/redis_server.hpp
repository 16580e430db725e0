#pragma once
// Test-only: a real redis-server (Debian's /usr/bin/redis-server) on
// 127.0.0.1 with a free port and its own temporary directory, no
// persistence unless asked. Stopped (SIGKILL) and its directory removed on
// scope exit, also on failure. Blocking calls are fine here.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pgvigil::test {

class RedisServer {
 public:
  // `extra_args` go after the defaults, so they can override them (e.g.
  // {"--requirepass", "secret"} or {"--replicaof", "127.0.0.1", "6380"}).
  // `port` 0 picks a free one; another takes over a port the test held.
  explicit RedisServer(std::vector<std::string> extra_args = {}, int port = 0);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }            // the temp dir (log, password)
  const std::string& data_dir() const { return data_dir_; }  // redis' `dir` (its cwd)
  std::string log() const;
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap (bounded); the port stays this server's for restart().
  void kill();
  // Starts it again on the same port and waits (bounded) until PING answers.
  void restart();

  // One command over a fresh connection (AUTH first when a password was
  // given to `command` or set by --requirepass through `password`). Returns
  // the reply's first line without its type byte for simple strings, errors
  // ("-ERR ..." keeps the '-') and integers; the payload for bulk strings;
  // "" on a failed connection or timeout.
  std::string command(const std::vector<std::string>& args, const std::string& password = {}) const;
  std::string info(const std::string& section = "all", const std::string& password = {}) const;

 private:
  void start();
  bool answers_ping() const;

  std::vector<std::string> extra_args_;
  std::string dir_;
  std::string data_dir_;
  std::string password_;  // --requirepass, when given
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pgvigil::test
