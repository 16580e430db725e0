// Issue 19: Redis targets (kind = "redis") against real redis-server 7
// processes (Debian's /usr/bin/redis-server; tests/support/redis_server):
// up and down with the reason, AUTH from password_file, LOADING while a
// large dataset loads, shards, reload, and the reasons no redis-server gives
// (a silent listener, a name that does not resolve, a listener that answers
// bytes that are not RESP). Full memory, a failing BGSAVE and a broken
// replica link are the scenarios 19-21 (tests/scenarios/redis_scenarios_test),
// asserted at Alertmanager's webhook rather than here.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::RedisServer;
using pgvigil::test::wait_until;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Rules evaluated every 200 ms with their `for` shortened, so a test sees
// an alert fire within seconds of its cause.
std::string redis_config(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n[alerting]\nevaluation_interval = \"200ms\"\n"
         "[alerting.rules.RedisDown]\nfor = \"0s\"\n" +
         targets;
}

std::string redis_target(const std::string& name, const RedisServer& server,
                         const std::string& extra = {}) {
  return "[[target]]\nname = \"" + name +
         "\"\nkind = \"redis\"\naddress = \"127.0.0.1:" + std::to_string(server.port()) +
         "\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n" + extra;
}

bool firing(const DaemonProcess& daemon, const std::string& alertname) {
  return daemon.metric("pgvigil_alert_active", {{"alertname", alertname}, {"alertstate", "firing"}})
             .value_or(0) == 1.0;
}

bool down_because(const DaemonProcess& daemon, const std::string& target,
                  const std::string& reason) {
  return daemon.metric("redis_up", {{"target", target}}) == 0.0 &&
         daemon.metric("redis_connection_failure", {{"target", target}, {"reason", reason}}) == 1.0;
}

void dump_on_failure(const DaemonProcess& daemon, const RedisServer& server) {
  std::cerr << "---- daemon log\n" << daemon.log() << "---- /metrics (redis)\n";
  const auto metrics = daemon.metrics();
  std::size_t start = 0;
  while (start < metrics.size()) {
    const auto end = metrics.find('\n', start);
    const auto line = metrics.substr(start, end - start);
    if (line.starts_with("redis_") || line.starts_with("pgvigil_alert_active"))
      std::cerr << line << "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::cerr << "---- redis log\n" << server.log();
}

}  // namespace

TEST_CASE(
    "redis: up with the documented metrics then refused after SIGKILL and back after restart") {
  RedisServer server;
  DaemonProcess daemon(redis_config(redis_target("cache", server)));

  const auto first = wait_until(
      [&] {
        return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0;
      },
      10s);
  if (!first) dump_on_failure(daemon, server);
  REQUIRE(first);
  std::cout << "redis_up 1 after " << first->count() << " ms from daemon start\n";
  // The first successful round carries INFO and CONFIG GET.
  const auto metrics = daemon.metrics();
  for (const char* name :
       {"redis_connected_clients", "redis_memory_used_bytes", "redis_config_maxclients",
        "redis_uptime_in_seconds", "redis_commands_processed_total", "redis_instance_info"}) {
    INFO("metric " << name);
    CHECK(pgvigil::test::metric_series(metrics, name, {{"target", "cache"}}) >= 1);
  }
  // CONFIG GET maxclients: 10000 by default, lowered by redis to fit the
  // open-file limit, so only its presence is certain.
  CHECK(daemon.metric("redis_config_maxclients", {{"target", "cache"}}).value_or(0) > 0);
  CHECK(daemon.metric("redis_connected_clients", {{"target", "cache"}}).value_or(0) >= 1.0);
  CHECK(daemon.metric("redis_connection_failure", {{"target", "cache"}, {"reason", "none"}}) ==
        1.0);

  // The session reads its idle connection, so the end-of-file of the killed
  // server starts a new attempt at once, which is refused.
  const auto killed = std::chrono::steady_clock::now();
  server.kill();
  const auto down = wait_until([&] { return down_because(daemon, "cache", "refused"); }, 5s, 20ms);
  if (!down) dump_on_failure(daemon, server);
  REQUIRE(down);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed);
  std::cout << "redis_up 0 (refused) " << took.count() << " ms after SIGKILL\n";
  CHECK(took <= 2000ms);
  // The INFO series go with the server; redis_up stays.
  CHECK_FALSE(daemon.metric("redis_connected_clients", {{"target", "cache"}}).has_value());
  CHECK(wait_until([&] { return firing(daemon, "RedisDown"); }, 5s));

  server.restart();
  const auto back = wait_until(
      [&] {
        return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0;
      },
      10s);
  if (!back) dump_on_failure(daemon, server);
  REQUIRE(back);
  std::cout << "redis_up 1 again " << back->count() << " ms after restart\n";
  CHECK(wait_until(
      [&] {
        return daemon.metric("redis_connected_clients", {{"target", "cache"}}).has_value();
      },
      5s));
  CHECK(wait_until([&] { return !firing(daemon, "RedisDown"); }, 5s));
}

TEST_CASE(
    "redis: AUTH from password_file and a wrong password is auth_failed without the password "
    "shown") {
  const std::string password = "s3cret-redis-pw-4711";
  const std::string wrong = "wr0ng-redis-pw-0815";
  RedisServer server({"--requirepass", password});
  const std::string right_file = server.dir() + "/right.pw";
  const std::string wrong_file = server.dir() + "/wrong.pw";
  pgvigil::test::write_file(right_file, password + "\n");
  pgvigil::test::write_file(wrong_file, wrong + "\n");

  DaemonProcess daemon(
      redis_config(redis_target("good", server, "password_file = \"" + right_file + "\"\n") +
                   redis_target("bad", server, "password_file = \"" + wrong_file + "\"\n") +
                   redis_target("none", server)));

  const bool good = wait_until(
                        [&] {
                          return daemon.metric("redis_up", {{"target", "good"}}) == 1.0;
                        },
                        10s)
                        .has_value();
  if (!good) dump_on_failure(daemon, server);
  REQUIRE(good);
  CHECK(daemon.metric("redis_memory_used_bytes", {{"target", "good"}}).has_value());
  const bool bad =
      wait_until([&] { return down_because(daemon, "bad", "auth_failed"); }, 10s).has_value();
  if (!bad) dump_on_failure(daemon, server);
  CHECK(bad);
  // No password at all against requirepass: NOAUTH on PING, also auth_failed.
  CHECK(wait_until([&] { return down_because(daemon, "none", "auth_failed"); }, 10s));
  CHECK(wait_until([&] { return firing(daemon, "RedisDown"); }, 5s));

  const auto metrics = daemon.metrics();
  const auto alerts = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=RedisDown");
  const auto status = pgvigil::test::http_get(daemon.port(), "/");
  const auto log = daemon.log();
  for (const auto& secret : {password, wrong}) {
    INFO("secret " << secret);
    CHECK_FALSE(contains(metrics, secret));
    CHECK_FALSE(contains(alerts.body, secret));
    CHECK_FALSE(contains(status.body, secret));
    CHECK_FALSE(contains(log, secret));
  }
}

TEST_CASE("redis: with shards a process watches only the Redis targets of its shard") {
  RedisServer server;
  // hashmod(name, 2): cache-a -> 0, cache-d -> 1 (MD5, as Prometheus).
  DaemonProcess daemon("shards = 2\nshard = 1\n" + redis_config(redis_target("cache-a", server) +
                                                                redis_target("cache-d", server)));
  const bool watched = wait_until(
                           [&] {
                             return daemon.metric("redis_up", {{"target", "cache-d"}}) == 1.0;
                           },
                           10s)
                           .has_value();
  if (!watched) dump_on_failure(daemon, server);
  REQUIRE(watched);
  // Several rounds later the other shard's target has no series at all.
  std::this_thread::sleep_for(1s);
  const auto metrics = daemon.metrics();
  CHECK(pgvigil::test::metric_series(metrics, "redis_up", {{"target", "cache-a"}}) == 0);
  CHECK(pgvigil::test::metric_series(metrics, "redis_up", {{"target", "cache-d"}}) == 1);
}

TEST_CASE(
    "redis: a reload that changes labels keeps the connection and one that drops the target drops "
    "its series") {
  RedisServer server;
  DaemonProcess daemon(redis_config(redis_target("cache", server)));
  REQUIRE(wait_until([&] { return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0; }, 10s));
  const auto connections = [&] {
    const auto info = server.info("stats");
    const auto at = info.find("total_connections_received:");
    return at == std::string::npos ? -1 : std::stol(info.substr(at + 27));
  };
  const long before = connections();  // this INFO's own connection included
  const auto rewrite = [&](std::string text) {
    for (auto at = text.find("@STATE@"); at != std::string::npos; at = text.find("@STATE@"))
      text.replace(at, 7, daemon.dir() + "/state");
    pgvigil::test::write_file(daemon.config_path(), text);
  };

  rewrite(redis_config(redis_target("cache", server, "labels = { env = \"x\" }\n")));
  daemon.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("redis_up", {{"target", "cache"}, {"env", "x"}}) == 1.0;
      },
      10s));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("redis_connected_clients", {{"target", "cache"}, {"env", "x"}})
            .has_value();
      },
      5s));
  // Only the test's own second INFO connected since: pgvigil kept its one.
  CHECK(connections() == before + 1);

  rewrite("state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n");
  daemon.signal(SIGHUP);
  const bool dropped = wait_until(
                           [&] {
                             return pgvigil::test::metric_series(daemon.metrics(), "redis_up",
                                                                 {{"target", "cache"}}) == 0;
                           },
                           10s)
                           .has_value();
  if (!dropped) dump_on_failure(daemon, server);
  CHECK(dropped);
}

TEST_CASE("redis: a listener that never answers is timeout and an unresolvable host is dns") {
  // A socket that listens but never accepts: the kernel completes the TCP
  // handshake from its backlog, then nothing ever answers AUTH or PING.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(silent >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 16) == 0);
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  DaemonProcess daemon(redis_config(
      "[[target]]\nname = \"silent\"\nkind = \"redis\"\naddress = \"127.0.0.1:" +
      std::to_string(port) +
      "\"\ninterval = \"200ms\"\ntimeout = \"500ms\"\n"
      "[[target]]\nname = \"nowhere\"\nkind = \"redis\"\n"
      "address = \"no-such-host.invalid:6379\"\ninterval = \"200ms\"\ntimeout = \"2s\"\n"));
  const bool timed_out =
      wait_until([&] { return down_because(daemon, "silent", "timeout"); }, 10s).has_value();
  const bool unresolved =
      wait_until([&] { return down_because(daemon, "nowhere", "dns"); }, 10s).has_value();
  if (!timed_out || !unresolved) std::cerr << daemon.log() << daemon.metrics();
  ::close(silent);
  CHECK(timed_out);
  CHECK(unresolved);
  // From the first scrape on, redis_up is there for both.
  CHECK(daemon.metric("redis_up", {{"target", "silent"}}) == 0.0);
  CHECK(daemon.metric("redis_up", {{"target", "nowhere"}}) == 0.0);
}

namespace {

// A web server where a Redis server was expected: accepts, reads the
// request, answers an HTTP error and closes, until stop() (bounded: each
// accept waits at most 100 ms, and the thread ends within 60 s regardless).
class NotRedisListener {
 public:
  NotRedisListener() {
    // CLOEXEC: the daemon, forked meanwhile, must not keep the port open.
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~NotRedisListener() { stop(); }
  int port() const { return port_; }
  int answered() const { return answered_; }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void serve() {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      timeval timeout{1, 0};
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      char request[4096];
      if (::recv(client, request, sizeof request, 0) > 0) {
        const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        if (::send(client, reply.data(), reply.size(), MSG_NOSIGNAL) > 0) ++answered_;
      }
      ::close(client);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("redis: a listener that answers HTTP is protocol, and a redis-server on its port is up") {
  NotRedisListener web;
  const int port = web.port();
  DaemonProcess daemon(
      redis_config("[[target]]\nname = \"cache\"\nkind = \"redis\"\n"
                   "address = \"127.0.0.1:" +
                   std::to_string(port) + "\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n"));
  const bool protocol =
      wait_until([&] { return down_because(daemon, "cache", "protocol"); }, 10s).has_value();
  if (!protocol) std::cerr << daemon.log() << daemon.metrics();
  REQUIRE(protocol);
  CHECK(web.answered() >= 1);
  CHECK(
      daemon
          .metric("redis_connection_failures_total", {{"target", "cache"}, {"reason", "protocol"}})
          .value_or(0) >= 1.0);
  CHECK(contains(daemon.log(), "bad RESP reply"));

  // The real server takes the port over; the session's next attempt finds it.
  web.stop();
  RedisServer server({}, port);
  const auto up = wait_until(
      [&] {
        return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0;
      },
      10s);
  if (!up) dump_on_failure(daemon, server);
  REQUIRE(up);
  std::cout << "redis_up 1 " << up->count() << " ms after redis-server took the port over\n";
  CHECK(daemon.metric("redis_connection_failure", {{"target", "cache"}, {"reason", "none"}}) ==
        1.0);
  CHECK(daemon.metric("redis_connected_clients", {{"target", "cache"}}).has_value());
}

TEST_CASE("redis: a server loading its dataset is down with reason loading, then up") {
  // key-load-delay (µs per key, a Redis test knob) stretches the load of a
  // 5000-key RDB to a second or more whatever the machine; events are
  // processed every KiB of it, so the server answers -LOADING meanwhile.
  RedisServer server({"--enable-debug-command", "yes", "--key-load-delay", "200",
                      "--loading-process-events-interval-bytes", "1024"});
  REQUIRE(server.command({"DEBUG", "POPULATE", "5000", "key", "16"}) == "OK");
  REQUIRE(server.command({"SAVE"}) == "OK");
  DaemonProcess daemon(redis_config(redis_target("cache", server)));
  REQUIRE(wait_until([&] { return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0; }, 10s));

  // restart() returns once PING answers PONG, i.e. after the load.
  const auto started = std::chrono::steady_clock::now();
  server.restart();
  const auto loading_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::cout << "redis-server killed, restarted and loaded 5000 keys in " << loading_ms.count()
            << " ms\n";
  const auto loaded = contains(server.log(), "Done loading RDB, keys loaded: 5000");
  CHECK(loaded);
  const auto up = wait_until(
      [&] {
        return daemon.metric("redis_up", {{"target", "cache"}}) == 1.0;
      },
      10s);
  if (!up) dump_on_failure(daemon, server);
  REQUIRE(up);
  // The rounds during the load failed with LOADING: the counter keeps them.
  const auto loading = daemon.metric("redis_connection_failures_total",
                                     {{"target", "cache"}, {"reason", "loading"}});
  if (!loading) dump_on_failure(daemon, server);
  REQUIRE(loading.has_value());
  CHECK(*loading >= 1.0);
  CHECK(contains(daemon.log(), "reason=loading"));
  CHECK(daemon.metric("redis_db_keys", {{"target", "cache"}, {"db", "db0"}}) == 5000.0);
}
