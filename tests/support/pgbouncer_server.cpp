#include "support/pgbouncer_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"

namespace pgvigil::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPgbouncer = "/usr/sbin/pgbouncer";

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// auth_file's quoting: "name" "password", a '"' doubled.
std::string auth_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

PgbouncerServer::PgbouncerServer(const PgCluster& cluster, PgbouncerOptions options) {
  dir_ = make_temp_dir("pgvigil-pgbouncer");
  port_ = free_loopback_port();
  std::random_device random;
  admin_password_ = "pgb-admin-" + std::to_string(random()) + std::to_string(random());
  write_file(admin_password_file(), admin_password_ + "\n");
  // pgbouncer logs in to PostgreSQL with the plain password of auth_file
  // (SCRAM towards the server needs it in plain text or as a SCRAM secret).
  write_file(dir_ + "/userlist.txt",
             auth_quoted("postgres") + " " + auth_quoted(cluster.password()) + "\n" +
                 auth_quoted(admin_user()) + " " + auth_quoted(admin_password_) + "\n");
  std::string ini =
      "[databases]\npostgres = host=127.0.0.1 port=" + std::to_string(cluster.primary_port()) +
      " dbname=postgres\n"
      "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " +
      std::to_string(port_) +
      "\nunix_socket_dir =\nauth_type = scram-sha-256\nauth_file = " + dir_ +
      "/userlist.txt\nadmin_users = " + admin_user() + "\npool_mode = " + options.pool_mode +
      "\ndefault_pool_size = " + std::to_string(options.pool_size) + "\nlogfile = " + dir_ +
      "/pgbouncer.log\npidfile = " + dir_ + "/pgbouncer.pid\n";
  for (const auto& line : options.settings) ini += line + "\n";
  write_file(dir_ + "/pgbouncer.ini", ini);
  if (::geteuid() == 0) {
    // It runs as postgres: its files, log and pid file are that user's.
    if (const passwd* pg = ::getpwnam("postgres")) {
      for (const auto& path : {dir_, dir_ + "/userlist.txt", dir_ + "/pgbouncer.ini"})
        if (::chown(path.c_str(), pg->pw_uid, pg->pw_gid) != 0)
          throw std::runtime_error("cannot chown " + path);
    }
  }
  try {
    start();
  } catch (...) {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

PgbouncerServer::~PgbouncerServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PgbouncerServer::log() const {
  return read_file(dir_ + "/pgbouncer.log") + read_file(dir_ + "/pgbouncer.out");
}

void PgbouncerServer::start() {
  std::vector<std::string> args{kPgbouncer};
  if (::geteuid() == 0) args.insert(args.end(), {"-u", "postgres"});
  args.push_back(dir_ + "/pgbouncer.ini");
  const std::string out_path = dir_ + "/pgbouncer.out";
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
    ::execv(kPgbouncer, argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("pgbouncer exited at start: " + log());
    }
    if (accepts_connections(port_)) return;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("pgbouncer on port " + std::to_string(port_) +
                           " did not listen within 10 s: " + log());
}

void PgbouncerServer::kill() {
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

void PgbouncerServer::restart() {
  kill();
  start();
}

void PgbouncerServer::reload() const {
  if (pid_ > 0) ::kill(pid_, SIGHUP);
}

}  // namespace pgvigil::test
