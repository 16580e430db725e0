// Issue: pg_up and the classified reasons, against real PostgreSQL 15 servers.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "probes/connection_failure.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

std::string target_block(const std::string& name, const std::string& host, int port,
                         const std::string& user, const std::string& password_file,
                         const std::string& dbname = "postgres") {
  std::string block = "[[target]]\nname = \"" + name + "\"\nhost = \"" + host +
                      "\"\nport = " + std::to_string(port) + "\nuser = \"" + user +
                      "\"\ndbname = \"" + dbname + "\"\n";
  if (!password_file.empty()) block += "password_file = \"" + password_file + "\"\n";
  return block + "[target.probes.liveness]\ninterval = \"200ms\"\n";
}

std::string config_with(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n[log]\nlevel = "
         "\"debug\"\n" +
         targets;
}

bool reason_is(const DaemonProcess& daemon, const std::string& target, const std::string& reason) {
  return daemon.metric("pg_connection_failure", {{"target", target}, {"reason", reason}}) == 1.0;
}

// A TCP listener that completes handshakes (kernel backlog) but never answers.
struct SilentListener {
  int fd = -1;
  int port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

}  // namespace

TEST_CASE("liveness: up, then refused after a kill -9 within 1 s, then up again after restart") {
  PgCluster cluster;
  DaemonProcess daemon(
      config_with(target_block("db", "127.0.0.1", cluster.primary_port(), "pgvigil_monitor",
                               cluster.monitor_password_file())));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 10s));
  CHECK(daemon.metric("pg_isready_status", {{"target", "db"}, {"status", "ok"}}) == 1.0);
  CHECK(daemon.metric("pg_server_info", {{"target", "db"}, {"role", "primary"}}) == 1.0);
  CHECK(daemon.metric("pg_postmaster_start_time_seconds", {{"target", "db"}}).value_or(0) > 0);

  cluster.kill_server("primary");
  auto detected = wait_until(
      [&] {
        return daemon.metric("pg_up", {{"target", "db"}}) == 0.0;
      },
      5s, 10ms);
  REQUIRE(detected);
  std::cout << "kill -9 detected (pg_up 0 in /metrics) after " << detected->count() << " ms\n";
  CHECK(detected->count() < 1000);
  REQUIRE(wait_until([&] { return reason_is(daemon, "db", "refused"); }, 3s));
  CHECK(daemon.metric("pg_isready_status", {{"target", "db"}, {"status", "no_response"}}) == 1.0);
  CHECK(daemon.metric("pg_connection_failures_total", {{"target", "db"}, {"reason", "refused"}})
            .value_or(0) >= 1);
  CHECK(daemon.metric("pg_down_since_timestamp_seconds", {{"target", "db"}}).has_value());

  std::remove((cluster.primary_data() + "/postmaster.pid").c_str());
  cluster.start_server("primary");
  auto back = wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 10s);
  REQUIRE(back);
  std::cout << "restart detected after " << back->count() << " ms\n";
  CHECK(reason_is(daemon, "db", "none"));
}

TEST_CASE("liveness: each failure reason comes from a real condition") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  {
    TestConnection admin(cluster.conninfo(port));
    admin.query("CREATE DATABASE app");
  }
  SilentListener silent;
  const std::string wrong_password_file = pgvigil::test::make_temp_dir("pw") + "/wrong";
  pgvigil::test::write_file(wrong_password_file, "not-the-password\n");

  DaemonProcess daemon(config_with(
      target_block("good", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file()) +
      target_block("badpw", "127.0.0.1", port, "pgvigil_monitor", wrong_password_file) +
      target_block("nodb", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file(),
                   "does_not_exist") +
      target_block("app", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file(),
                   "app") +
      target_block("blackhole", "127.0.0.1", silent.port, "pgvigil_monitor", "") +
      target_block("nohost", "no-such-host.invalid", 5432, "pgvigil_monitor", "")));

  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "good"}}) == 1.0; }, 10s));
  CHECK(wait_until([&] { return reason_is(daemon, "badpw", "auth_failed"); }, 5s));
  CHECK(daemon.metric("pg_isready_status", {{"target", "badpw"}, {"status", "ok"}}) == 1.0);
  CHECK(wait_until([&] { return reason_is(daemon, "nodb", "database_missing"); }, 5s));
  CHECK(wait_until([&] { return reason_is(daemon, "blackhole", "timeout"); }, 12s));
  CHECK(wait_until([&] { return reason_is(daemon, "nohost", "dns"); }, 12s));

  // Drop the database a target uses: its next attempt says why.
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "app"}}) == 1.0; }, 10s));
  {
    TestConnection admin(cluster.conninfo(port));
    admin.query("DROP DATABASE app WITH (FORCE)");
  }
  CHECK(wait_until([&] { return reason_is(daemon, "app", "database_missing"); }, 5s));

  CHECK(daemon.metric("pg_up", {{"target", "good"}}) == 1.0);

  const auto log = daemon.log();
  CHECK(log.find("not-the-password") == std::string::npos);
  CHECK(log.find(cluster.monitor_password()) == std::string::npos);
  CHECK(daemon.metrics().find(cluster.monitor_password()) == std::string::npos);
  CHECK(pgvigil::test::http_get(daemon.port(), "/").body.find(cluster.monitor_password()) ==
        std::string::npos);
}

TEST_CASE("liveness: too many clients, shutting down and recovery are told apart") {
  PgClusterOptions options;
  options.replica = true;
  options.settings = {"max_connections=8", "superuser_reserved_connections=2"};
  PgCluster cluster(options);
  const int port = cluster.primary_port();

  // The first daemon holds its monitoring connection before the server fills.
  DaemonProcess holder(config_with(
      target_block("db", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file())));
  REQUIRE(wait_until([&] { return holder.metric("pg_up", {{"target", "db"}}) == 1.0; }, 10s));
  std::vector<std::unique_ptr<TestConnection>> hogs;
  for (int i = 0; i < 10; ++i) {
    try {
      hogs.push_back(std::make_unique<TestConnection>(cluster.conninfo(port)));
    } catch (const std::exception&) {
      break;
    }
  }
  REQUIRE(hogs.size() >= 4);
  // A newcomer is turned away; the holder keeps reporting.
  DaemonProcess newcomer(config_with(
      target_block("db", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file())));
  CHECK(wait_until([&] { return reason_is(newcomer, "db", "too_many_clients"); }, 5s));
  CHECK(holder.metric("pg_up", {{"target", "db"}}) == 1.0);
  hogs.clear();

  // A smart shutdown waits for sessions; meanwhile new connections are refused
  // with 57P03 "the database system is shutting down".
  TestConnection lingering(cluster.conninfo(port));
  int exit_code = -1;
  pgvigil::test::run_command(
      pgvigil::test::pg_ctl_command(cluster, "stop -D " + cluster.primary_data() + " -m smart -W"),
      &exit_code);
  REQUIRE(exit_code == 0);
  DaemonProcess late(config_with(
      target_block("db", "127.0.0.1", port, "pgvigil_monitor", cluster.monitor_password_file())));
  CHECK(wait_until([&] { return reason_is(late, "db", "shutting_down"); }, 5s));
  CHECK(late.metric("pg_isready_status", {{"target", "db"}, {"status", "rejecting"}}) == 1.0);

  // A standby with hot_standby off answers 57P03 "not accepting connections".
  pgvigil::test::run_command("echo 'hot_standby = off' >> " + cluster.replica_data() +
                             "/postgresql.auto.conf");
  cluster.stop_server("replica");
  pgvigil::test::run_command(pgvigil::test::pg_ctl_command(
      cluster, "start -D " + cluster.replica_data() + " -l " + cluster.replica_log() + " -W"));
  DaemonProcess standby(
      config_with(target_block("standby", "127.0.0.1", cluster.replica_port(), "pgvigil_monitor",
                               cluster.monitor_password_file())));
  // Before 14 such a standby answers "the database system is starting up",
  // word for word what a starting server says, so that is the reason there.
  const std::string expected = cluster.major() < 14 ? "starting_up" : "recovery";
  CHECK(wait_until([&] { return reason_is(standby, "standby", expected); }, 10s));
}

TEST_CASE("liveness: a black-holed target does not disturb a healthy one's rhythm") {
  PgCluster cluster;
  SilentListener silent;
  std::string config =
      config_with(target_block("good", "127.0.0.1", cluster.primary_port(), "pgvigil_monitor",
                               cluster.monitor_password_file()) +
                  target_block("blackhole", "127.0.0.1", silent.port, "pgvigil_monitor", ""));
  DaemonProcess daemon(config);
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "good"}}) == 1.0; }, 10s));
  // Liveness runs every 200 ms; over 4 s the healthy target must complete
  // close to 20 rounds while the black hole times out attempt after attempt.
  const auto runs = [&] {
    return daemon.metric("pgvigil_probe_runs_total", {{"target", "good"}, {"probe", "liveness"}})
        .value_or(0);
  };
  const double before = runs();
  std::this_thread::sleep_for(4s);
  const double after = runs();
  std::cout << "healthy target liveness rounds in 4 s beside a black hole: " << (after - before)
            << "\n";
  CHECK(after - before >= 17);
  CHECK(daemon.metric("pgvigil_probe_skipped_total", {{"target", "good"}, {"probe", "liveness"}})
            .value_or(0) == 0);
}

TEST_CASE("admission control: 200 targets at a silent server, never more attempts than the limit") {
  // Every attempt hangs until its deadline: the worst case for a storm. The
  // limit holds, the rest wait, and each attempt ends at the target's own
  // connect_timeout (1 s), not at the 5 s default.
  SilentListener silent;
  std::string config =
      "state_directory = \"@STATE@\"\nmax_connection_attempts = 8\n[server]\nlisten = "
      "[\"127.0.0.1:0\"]\n";
  constexpr int kTargets = 200;
  for (int i = 0; i < kTargets; ++i)
    config += "[[target]]\nname = \"t" + std::to_string(i) +
              "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(silent.port) +
              "\nuser = \"nobody\"\ndbname = \"nothing\"\nconnect_timeout = 1\n";
  DaemonProcess daemon(config);

  double peak = 0;
  bool saw_waiting = false;
  std::size_t samples = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < 80 && std::chrono::steady_clock::now() - started < 4s; ++round) {
    const std::string text = daemon.metrics();
    const auto in_flight =
        pgvigil::test::metric_value(text, "pgvigil_connection_attempts_in_flight");
    const auto waiting = pgvigil::test::metric_value(text, "pgvigil_connection_attempts_waiting");
    if (in_flight && waiting) {
      ++samples;
      CHECK(*in_flight <= 8);
      peak = std::max(peak, *in_flight);
      saw_waiting = saw_waiting || *waiting > 0;
    }
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(samples > 10);
  CHECK(peak == 8);
  CHECK(saw_waiting);
  const std::string text = daemon.metrics();
  CHECK(pgvigil::test::metric_value(text, "pgvigil_connection_attempts_in_flight_peak") == 8.0);
  CHECK(pgvigil::test::metric_value(text, "pgvigil_connection_attempts_limit") == 8.0);
  // After ~4 s with 8 slots and a 1 s deadline, about 24 attempts have timed
  // out; with the 5 s default there would be none yet.
  int timed_out = 0;
  for (int i = 0; i < kTargets; ++i)
    timed_out +=
        pgvigil::test::metric_value(text, "pg_connection_failures_total",
                                    {{"target", "t" + std::to_string(i)}, {"reason", "timeout"}})
                    .value_or(0) >= 1
            ? 1
            : 0;
  MESSAGE("targets with a timed-out attempt after ~4 s: " << timed_out);
  CHECK(timed_out >= 16);
  CHECK(timed_out <= 8 * 6);  // never more than the limit per deadline
}

TEST_CASE("liveness: before its first attempt ends a target is 'connecting', then a timeout") {
  // Issue 20: the first attempt at a silent server showed pg_up 0 with
  // reason "none" until it timed out.
  SilentListener silent;
  const std::string config = config_with(
      "[[target]]\nname = \"silent\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(silent.port) +
      "\nuser = \"nobody\"\ndbname = \"nothing\"\nconnect_timeout = 4\n");
  const auto started = std::chrono::steady_clock::now();
  DaemonProcess daemon(config);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_up", {{"target", "silent"}}).has_value();
      },
      3s, 20ms));
  if (std::chrono::steady_clock::now() - started < 3s) {
    CHECK(reason_is(daemon, "silent", "connecting"));
    CHECK_FALSE(reason_is(daemon, "silent", "none"));
    CHECK(daemon.metric("pg_up", {{"target", "silent"}}) == 0.0);
  }
  // The attempt ends at the target's connect_timeout as a timeout.
  const auto took = wait_until([&] { return reason_is(daemon, "silent", "timeout"); }, 10s);
  REQUIRE(took);
  CHECK(daemon.metric("pg_connection_failures_total",
                      {{"target", "silent"}, {"reason", "timeout"}}) >= 1.0);
  CHECK_FALSE(daemon.metric("pg_connection_failures_total",
                            {{"target", "silent"}, {"reason", "connecting"}}));
}

TEST_CASE("liveness: a hung server is a timeout from the moment it stops answering") {
  // Issue 20: a stopped server read "other" (connection lost) for its first
  // seconds, because the query deadline's cause was thrown away.
  PgCluster cluster;
  DaemonProcess daemon(
      config_with(target_block("hung", "127.0.0.1", cluster.primary_port(), "pgvigil_monitor",
                               cluster.monitor_password_file())));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "hung"}}) == 1.0; }, 10s));
  const pid_t postmaster = cluster.postmaster_pid("primary");
  REQUIRE(postmaster > 0);
  // Every process of the server stops; they are resumed whatever happens.
  struct Resume {
    pid_t pid;
    ~Resume() {
      pgvigil::test::run_command("pkill -CONT -P " + std::to_string(pid));
      ::kill(pid, SIGCONT);
    }
  } resume{postmaster};
  pgvigil::test::run_command("pkill -STOP -P " + std::to_string(postmaster));
  REQUIRE(::kill(postmaster, SIGSTOP) == 0);

  std::string first_reason;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 400 && std::chrono::steady_clock::now() - started < 20s; ++i) {
    const std::string text = daemon.metrics();
    if (pgvigil::test::metric_value(text, "pg_up", {{"target", "hung"}}) == 0.0) {
      for (auto reason : pgvigil::failure_reason_names()) {
        if (pgvigil::test::metric_value(text, "pg_connection_failure",
                                        {{"target", "hung"}, {"reason", std::string(reason)}}) ==
            1.0)
          first_reason = reason;
      }
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  CHECK(first_reason == "timeout");
}
