#pragma once
// Test-only: a real pgbouncer (Debian's /usr/sbin/pgbouncer, 1.18) on
// 127.0.0.1 with a free port, in front of a PgCluster's primary, with its
// own auth_file, an admin user for pgvigil and a small pool. It runs as the
// `postgres` OS user when the tests run as root (pgbouncer refuses root).
// Killed (SIGKILL) and its directory removed on scope exit, also on failure.
// Blocking calls are fine here.
#include <sys/types.h>

#include <string>
#include <vector>

#include "support/pg_cluster.hpp"

namespace pgvigil::test {

struct PgbouncerOptions {
  int pool_size = 5;                      // default_pool_size
  std::string pool_mode = "transaction";  // the global pool_mode
  std::vector<std::string> settings{};    // more "key = value" lines for [pgbouncer]
};

class PgbouncerServer {
 public:
  // Database `postgres` of `cluster`'s primary is reachable through it as
  // the cluster's user postgres (cluster.conninfo(port(), "postgres")).
  explicit PgbouncerServer(const PgCluster& cluster, PgbouncerOptions options = {});
  ~PgbouncerServer();
  PgbouncerServer(const PgbouncerServer&) = delete;
  PgbouncerServer& operator=(const PgbouncerServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // In admin_users; its password is in admin_password_file().
  std::string admin_user() const { return "pgvigil_admin"; }
  const std::string& admin_password() const { return admin_password_; }
  std::string admin_password_file() const { return dir_ + "/admin.pw"; }
  std::string log() const;
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap (bounded); the port stays this server's for restart().
  void kill();
  // Starts it again on the same port and waits (bounded) until it listens.
  void restart();
  // SIGHUP: pgbouncer reloads its config and keeps its connections.
  void reload() const;

 private:
  void start();

  std::string dir_;
  std::string admin_password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pgvigil::test
