#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "probes/datadir.hpp"

using pgvigil::HostContext;
using pgvigil::SampleSink;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/proc/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-datadir-XXXXXX";
    char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// A child process that calls itself "postgres", as a postmaster does.
struct FakePostmaster {
  pid_t pid = -1;
  FakePostmaster() {
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::prctl(PR_SET_NAME, "postgres", 0, 0, 0);
      ::alarm(60);  // never outlives a crashed test run
      for (;;) ::pause();
    }
    // Wait until the name change is visible.
    for (int i = 0; i < 200; ++i) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      std::getline(comm, name);
      if (name == "postgres") break;
      ::usleep(10'000);
    }
  }
  ~FakePostmaster() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

// A pid that belonged to a process that has exited.
pid_t dead_pid() {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

struct Listener {
  int fd = -1;
  std::uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd); }
};

void write_pidfile(const std::filesystem::path& dir, long pid, int port,
                   const std::string& listen = "127.0.0.1") {
  std::ofstream(dir / "postmaster.pid") << pid << "\n"
                                        << dir.string() << "\n1795327132\n"
                                        << port << "\n/tmp\n"
                                        << listen << "\n 10953057     32799\nready   \n";
}

double value(const SampleSink& sink, const std::string& name) {
  auto* metric = sink.find(name);
  return metric == nullptr ? -1 : metric->gauge.value;
}

SampleSink run(const std::string& data_directory) {
  pgvigil::config::TargetConfig target;
  HostContext ctx{target, data_directory, "", "/tmp", std::chrono::system_clock::now()};
  SampleSink sink;
  pgvigil::DatadirProbe().collect(ctx, sink);
  return sink;
}

}  // namespace

TEST_CASE("postmaster.pid from a real PostgreSQL 15 server is parsed") {
  auto parsed = pgvigil::parse_postmaster_pid(read_fixture("postmaster.pid"));
  REQUIRE(parsed.has_value());
  CHECK(parsed->pid == 18579);
  CHECK_FALSE(parsed->single_user);
  CHECK(parsed->data_directory == "/tmp/host_pg/data");
  CHECK(parsed->start_time == 1795327132);
  CHECK(parsed->port == 54399);
  CHECK(parsed->socket_directory == "/tmp/host_pg");
  CHECK(parsed->listen_address == "127.0.0.1");
  CHECK(parsed->shared_memory_key == "10953057     32799");
  CHECK(parsed->status == "ready");
}

TEST_CASE("odd postmaster.pid files") {
  CHECK_FALSE(pgvigil::parse_postmaster_pid("").has_value());
  CHECK_FALSE(pgvigil::parse_postmaster_pid("abc\n/data\n").has_value());
  CHECK_FALSE(pgvigil::parse_postmaster_pid("0\n").has_value());
  auto single = pgvigil::parse_postmaster_pid("-42\n/data\n");
  REQUIRE(single.has_value());
  CHECK(single->pid == 42);
  CHECK(single->single_user);
  CHECK_FALSE(single->port.has_value());
  CHECK(single->status.empty());
  auto bad_port = pgvigil::parse_postmaster_pid("7\n/d\n1\n99999\n");
  REQUIRE(bad_port.has_value());
  CHECK_FALSE(bad_port->port.has_value());
}

TEST_CASE("LISTEN sockets are found in real /proc/net/tcp and tcp6 captures") {
  auto tcp = read_fixture("net_tcp");
  auto tcp6 = read_fixture("net_tcp6");
  CHECK(pgvigil::tcp_table_has_listener(tcp, 54399));
  CHECK(pgvigil::tcp_table_has_listener(tcp6, 54399));
  CHECK_FALSE(pgvigil::tcp_table_has_listener(tcp, 39862));  // an established client socket only
  CHECK_FALSE(pgvigil::tcp_table_has_listener(tcp6, 5432));
  CHECK_FALSE(pgvigil::tcp_table_has_listener("", 5432));
  CHECK_FALSE(pgvigil::tcp_table_has_listener("garbage\n 0: zz:zz 0 0A\n", 5432));
  // The set holds the listeners only, not the established sockets' ports.
  const auto listeners = pgvigil::tcp_table_listeners(tcp);
  CHECK(listeners.contains(54399));
  CHECK_FALSE(listeners.contains(39862));
  CHECK(pgvigil::tcp_table_listeners("").empty());
}

TEST_CASE("data directory modes PostgreSQL accepts") {
  CHECK(pgvigil::datadir_mode_ok(040700));
  CHECK(pgvigil::datadir_mode_ok(0750));
  CHECK_FALSE(pgvigil::datadir_mode_ok(0755));
  CHECK_FALSE(pgvigil::datadir_mode_ok(0770));
  CHECK_FALSE(pgvigil::datadir_mode_ok(0600));
  CHECK(pgvigil::is_postgres_comm("postgres\n"));
  CHECK(pgvigil::is_postgres_comm("postmaster"));
  CHECK_FALSE(pgvigil::is_postgres_comm("bash"));
}

TEST_CASE("datadir probe: nothing for an unknown data directory, exists=0 for a missing one") {
  CHECK(run("").empty());
  auto sink = run("/nonexistent/pgvigil/data");
  CHECK(value(sink, "pg_datadir_exists") == 0);
  CHECK(sink.series_count("pg_datadir_pidfile_exists") == 0);
}

TEST_CASE("datadir probe on a stopped cluster and a bad mode") {
  TempDir dir;
  std::ofstream(dir.path / "PG_VERSION") << "15\n";
  ::chmod(dir.path.c_str(), 0700);
  auto sink = run(dir.path.string());
  CHECK(value(sink, "pg_datadir_exists") == 1);
  CHECK(value(sink, "pg_datadir_ownership_ok") == 1);
  CHECK(value(sink, "pg_datadir_pidfile_exists") == 0);
  CHECK(value(sink, "pg_datadir_stale_pidfile") == 0);
  CHECK(sink.evidence().at("datadir.pidfile").find("no postmaster.pid") != std::string::npos);
  ::chmod(dir.path.c_str(), 0755);
  CHECK(value(run(dir.path.string()), "pg_datadir_ownership_ok") == 0);
  ::chmod(dir.path.c_str(), 0750);
  CHECK(value(run(dir.path.string()), "pg_datadir_ownership_ok") == 1);
}

TEST_CASE("datadir probe: a running postmaster with its port listening") {
  TempDir dir;
  FakePostmaster postmaster;
  Listener listener;
  write_pidfile(dir.path, postmaster.pid, listener.port);
  auto sink = run(dir.path.string());
  CHECK(value(sink, "pg_datadir_pidfile_exists") == 1);
  CHECK(value(sink, "pg_datadir_stale_pidfile") == 0);
  CHECK(value(sink, "pg_datadir_pidfile_port_listening") == 1);
  auto evidence = sink.evidence().at("datadir.pidfile");
  CHECK(evidence.find("is running") != std::string::npos);
  CHECK(evidence.find("status ready") != std::string::npos);
}

TEST_CASE("datadir probe: stale pid files, dead or reused PID, port not listening") {
  TempDir dir;
  Listener listener;
  auto closed_port = listener.port;
  ::close(listener.fd);
  listener.fd = ::socket(AF_INET, SOCK_STREAM, 0);  // keeps the destructor harmless

  write_pidfile(dir.path, dead_pid(), closed_port);
  auto dead = run(dir.path.string());
  CHECK(value(dead, "pg_datadir_stale_pidfile") == 1);
  CHECK(value(dead, "pg_datadir_pidfile_port_listening") == 0);
  CHECK(dead.evidence().at("datadir.pidfile").find("no process") != std::string::npos);

  write_pidfile(dir.path, ::getpid(), closed_port);  // a live PID that is not postgres
  auto reused = run(dir.path.string());
  CHECK(value(reused, "pg_datadir_stale_pidfile") == 1);
  CHECK(reused.evidence().at("datadir.pidfile").find("is now") != std::string::npos);

  write_pidfile(dir.path, ::getpid(), closed_port, "");  // Unix sockets only: no TCP check
  CHECK(run(dir.path.string()).series_count("pg_datadir_pidfile_port_listening") == 0);
}

TEST_CASE("datadir probe: targets of one data directory share a reading for a quarter interval") {
  TempDir dir;
  std::ofstream(dir.path / "PG_VERSION") << "15\n";
  ::chmod(dir.path.c_str(), 0700);
  pgvigil::config::TargetConfig first_target;
  first_target.name = "db1";
  pgvigil::config::TargetConfig second_target;
  second_target.name = "db2";
  const auto now = std::chrono::system_clock::now();
  auto round = [&](const pgvigil::config::TargetConfig& target,
                   std::chrono::system_clock::time_point at, std::chrono::milliseconds interval) {
    HostContext ctx{target, dir.path.string(), "", "/tmp", at, interval};
    SampleSink sink;
    pgvigil::DatadirProbe().collect(ctx, sink);
    return value(sink, "pg_datadir_pidfile_exists");
  };
  CHECK(round(first_target, now, std::chrono::seconds(10)) == 0);
  FakePostmaster postmaster;
  write_pidfile(dir.path, postmaster.pid, 5432, "");
  // Another target of the same directory 1 s later: the shared reading.
  CHECK(round(second_target, now + std::chrono::seconds(1), std::chrono::seconds(10)) == 0);
  // 2 s is as old as a 10 s interval accepts: read again.
  CHECK(round(second_target, now + std::chrono::seconds(2), std::chrono::seconds(10)) == 1);
  // A 1 s interval accepts 250 ms: the file is removed, and read at 2.3 s.
  std::filesystem::remove(dir.path / "postmaster.pid");
  CHECK(round(first_target, now + std::chrono::milliseconds(2200), std::chrono::seconds(1)) == 1);
  CHECK(round(first_target, now + std::chrono::milliseconds(2300), std::chrono::seconds(1)) == 0);
  // Without an interval (0) nothing is shared.
  write_pidfile(dir.path, postmaster.pid, 5432, "");
  CHECK(round(second_target, now + std::chrono::milliseconds(2300), std::chrono::seconds(0)) == 1);
}
