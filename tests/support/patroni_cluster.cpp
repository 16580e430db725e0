#include "support/patroni_cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"

namespace pgvigil::test {

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = dirs.substr(start, end - start) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Waits (bounded) for a child we forked; SIGKILL when it outlives `grace`.
void reap(pid_t pid, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) != 0) return;  // exited (or not our child)
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// The postmaster pid of a data directory, if it runs (its command line must
// name postgres: a stale file must not make us signal a stranger).
std::optional<pid_t> running_postmaster(const std::string& data) {
  const auto line = read_file(data + "/postmaster.pid");
  if (line.empty()) return std::nullopt;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(line));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (pid <= 0 || ::kill(pid, 0) != 0) return std::nullopt;
  if (read_file("/proc/" + std::to_string(pid) + "/cmdline").find("postgres") == std::string::npos)
    return std::nullopt;
  return pid;
}

// Stops a postmaster we did not fork (Patroni did): immediate shutdown, then
// SIGKILL; bounded.
void stop_postmaster(const std::string& data) {
  auto pid = running_postmaster(data);
  if (!pid) return;
  ::kill(*pid, SIGQUIT);
  if (!wait_until([&] { return ::kill(*pid, 0) != 0; }, 5000ms)) ::kill(*pid, SIGKILL);
  wait_until([&] { return ::kill(*pid, 0) != 0; }, 2000ms);
}

std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

bool has_patroni() {
  return on_path("patroni") && on_path("etcd") &&
         ::access((std::string(kPgBin) + "/postgres").c_str(), X_OK) == 0;
}

PatroniTestCluster::PatroniTestCluster(bool replica_can_fail_over) {
  const auto started = std::chrono::steady_clock::now();
  dir_ = make_temp_dir("pgvigil-patroni");
  a_.name = "node-a";
  b_.name = "node-b";
  etcd_client_port_ = free_loopback_port();
  etcd_peer_port_ = free_loopback_port();
  for (auto* m : {&a_, &b_}) {
    m->rest_port = free_loopback_port();
    m->pg_port = free_loopback_port();
    const auto home = dir_ + "/" + m->name;
    fs::create_directories(home);
    ::chmod(home.c_str(), 0700);
    m->config = home + ".yml";
    m->log = home + ".log";
    m->data = home + "/data";
  }
  fs::create_directories(dir_ + "/etcd");
  ::chmod((dir_ + "/etcd").c_str(), 0700);
  write_member_config(a_, false);
  write_member_config(b_, !replica_can_fail_over);
  if (::getuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("no postgres OS user");
    for (const auto& path :
         {dir_, dir_ + "/etcd", dir_ + "/node-a", dir_ + "/node-b", a_.config, b_.config})
      if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::runtime_error("cannot chown " + path);
  }

  try {
    const auto client = "http://127.0.0.1:" + std::to_string(etcd_client_port_);
    const auto peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
    etcd_pid_ =
        spawn({"etcd", "--name", "etcd1", "--data-dir", dir_ + "/etcd", "--listen-client-urls",
               client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
               "--initial-advertise-peer-urls", peer, "--initial-cluster", "etcd1=" + peer},
              dir_ + "/etcd.log");
    if (!wait_until(
            [&] {
              return http_get(etcd_client_port_, "/health", 1000ms).body.find("true") !=
                     std::string::npos;
            },
            20s, 100ms))
      throw std::runtime_error("etcd did not become healthy");

    a_.pid = spawn({"patroni", a_.config}, a_.log);
    if (!wait_until(
            [&] {
              auto c = cluster("a");
              const auto* leader = c ? c->leader() : nullptr;
              return leader != nullptr && leader->name == a_.name && leader->state == "running";
            },
            60s, 200ms))
      throw std::runtime_error("node-a did not become the leader");

    b_.pid = spawn({"patroni", b_.config}, b_.log);
    if (!wait_until(
            [&] {
              auto c = cluster("a");
              if (!c) return false;
              for (const auto& m : c->members)
                if (m.name == b_.name)
                  return (m.state == "running" || m.state == "streaming") && m.lag_bytes &&
                         *m.lag_bytes == 0 && m.timeline;
              return false;
            },
            60s, 200ms))
      throw std::runtime_error("node-b did not start streaming");
  } catch (const std::exception& e) {
    const std::string why = std::string(e.what()) + "\n" + logs();
    stop_all();
    throw std::runtime_error(why);
  }
  start_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
}

bool PatroniTestCluster::switchover(const std::string& from, const std::string& to) {
  const auto body =
      "{\"leader\": \"" + member(from).name + "\", \"candidate\": \"" + member(to).name + "\"}";
  return http_request(member(from).rest_port, "POST", "/switchover", body, 30000ms).status == 200;
}

PatroniTestCluster::~PatroniTestCluster() {
  stop_all();
}

void PatroniTestCluster::stop_all() {
  stop_member(b_);
  stop_member(a_);
  if (etcd_pid_ > 0) {
    ::kill(etcd_pid_, SIGTERM);
    reap(etcd_pid_, 5000ms);
    etcd_pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

void PatroniTestCluster::stop_member(Member& m) {
  if (m.pid > 0) {
    // Patroni stops its PostgreSQL on SIGTERM.
    ::kill(m.pid, SIGTERM);
    reap(m.pid, 15000ms);
    m.pid = -1;
  }
  if (!m.data.empty()) stop_postmaster(m.data);
}

void PatroniTestCluster::kill_member(const std::string& which) {
  auto& m = member(which);
  const auto postmaster = running_postmaster(m.data);
  if (m.pid > 0) {
    ::kill(m.pid, SIGKILL);
    ::waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }
  if (postmaster) {
    ::kill(*postmaster, SIGKILL);
    wait_until([&] { return ::kill(*postmaster, 0) != 0; }, 5000ms);
  }
}

pid_t PatroniTestCluster::spawn(const std::vector<std::string>& args, const std::string& log) {
  // Resolved before fork: only async-signal-safe calls after it.
  const passwd* pw = ::getuid() == 0 ? ::getpwnam("postgres") : nullptr;
  const uid_t uid = pw != nullptr ? pw->pw_uid : ::getuid();
  const gid_t gid = pw != nullptr ? pw->pw_gid : ::getgid();
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string home = "HOME=" + dir_;
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (pw != nullptr) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(126);
    }
    if (::chdir(dir_.c_str()) != 0) _exit(126);
    ::putenv(const_cast<char*>(home.c_str()));
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void PatroniTestCluster::write_member_config(const Member& m, bool nofailover) {
  const auto rest = "127.0.0.1:" + std::to_string(m.rest_port);
  const auto pg = "127.0.0.1:" + std::to_string(m.pg_port);
  std::string yaml = "scope: " + scope() + "\nname: " + m.name +
                     "\n"
                     "restapi:\n  listen: " +
                     rest + "\n  connect_address: " + rest +
                     "\n"
                     "etcd3:\n  hosts: 127.0.0.1:" +
                     std::to_string(etcd_client_port_) +
                     "\n"
                     // Patroni's minimums: the leader key lives ttl seconds
                     // after its holder stops renewing it.
                     "bootstrap:\n"
                     "  dcs:\n"
                     "    ttl: 20\n"
                     "    loop_wait: 1\n"
                     "    retry_timeout: 3\n"
                     "    maximum_lag_on_failover: 1048576\n"
                     "    postgresql:\n"
                     "      use_pg_rewind: false\n"
                     "      parameters:\n"
                     "        max_connections: 20\n"
                     "        shared_buffers: 16MB\n"
                     "  initdb:\n"
                     "  - encoding: UTF8\n"
                     "  - auth: trust\n"
                     "postgresql:\n"
                     "  listen: " +
                     pg + "\n  connect_address: " + pg + "\n  data_dir: " + m.data +
                     "\n  bin_dir: " + kPgBin + "\n  pgpass: " + dir_ + "/" + m.name +
                     "/pgpass\n"
                     "  authentication:\n"
                     "    replication:\n"
                     "      username: replicator\n"
                     "      password: replicator-secret\n"
                     "    superuser:\n"
                     "      username: postgres\n"
                     "      password: " +
                     superuser_password() +
                     "\n"
                     "  parameters:\n"
                     "    unix_socket_directories: '" +
                     dir_ + "/" + m.name +
                     "'\n"
                     "  pg_hba:\n"
                     "  - local all all trust\n"
                     "  - host all all 127.0.0.1/32 trust\n"
                     "  - host replication replicator 127.0.0.1/32 trust\n";
  if (nofailover) yaml += "tags:\n  nofailover: true\n";
  write_file(m.config, yaml);
}

PatroniTestCluster::Member& PatroniTestCluster::member(const std::string& which) {
  if (which == "a") return a_;
  if (which == "b") return b_;
  throw std::logic_error("no member " + which);
}

const PatroniTestCluster::Member& PatroniTestCluster::member(const std::string& which) const {
  return const_cast<PatroniTestCluster*>(this)->member(which);
}

int PatroniTestCluster::rest_port(const std::string& which) const {
  return member(which).rest_port;
}

int PatroniTestCluster::pg_port(const std::string& which) const {
  return member(which).pg_port;
}

std::string PatroniTestCluster::rest_url(const std::string& which) const {
  return "http://127.0.0.1:" + std::to_string(rest_port(which));
}

std::optional<pgvigil::PatroniCluster> PatroniTestCluster::cluster(const std::string& which) const {
  const auto reply = http_get(rest_port(which), "/cluster", 1000ms);
  if (reply.status != 200) return std::nullopt;
  return parse_patroni_cluster(reply.body, nullptr);
}

std::string PatroniTestCluster::logs() const {
  std::string text;
  for (const auto& [name, path] : {std::pair<std::string, std::string>{"etcd", dir_ + "/etcd.log"},
                                   {"node-a", a_.log},
                                   {"node-b", b_.log}})
    text += "--- " + name + " log:\n" + tail(read_file(path), 3000) + "\n";
  return text;
}

}  // namespace pgvigil::test
