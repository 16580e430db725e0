// The binary as an operator meets it: check-config, reload, readiness, health
// and shutdown, against real PostgreSQL.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::http_get;
using pgvigil::test::PgCluster;
using pgvigil::test::run_command;
using pgvigil::test::wait_until;

namespace {
const std::string kBinary = PGVIGIL_BINARY;
const std::string kData = PGVIGIL_TEST_DATA;

std::string target(const std::string& name, int port, const std::string& password_file) {
  return "[[target]]\nname = \"" + name +
         "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" + password_file +
         "\"\n";
}
const std::string kHeader = "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n";
}  // namespace

TEST_CASE("check-config: broken files name file:line:column and exit 1") {
  struct Case {
    std::string file;
    std::string expect;  // a fragment the error must contain
  };
  const Case cases[] = {
      {"unknown_key.toml", "unknown_key.toml:4:1"},   {"wrong_type.toml", "wrong_type.toml:"},
      {"bad_duration.toml", "bad_duration.toml:"},    {"duplicate_target.toml", "duplicate"},
      {"does_not_exist.toml", "does_not_exist.toml"},
  };
  for (const auto& c : cases) {
    int code = -1;
    const auto out = run_command(kBinary + " check-config " + kData + "/config/" + c.file, &code);
    INFO(c.file << ": " << out);
    CHECK(code == 1);
    CHECK(out.find(c.expect) != std::string::npos);
  }
  int code = -1;
  const auto ok = run_command(
      kBinary + " check-config " + std::string(PGVIGIL_SOURCE_DIR) + "/config/pgvigil.example.toml",
      &code);
  CHECK(code == 0);
  CHECK(ok.find("[[target]]") != std::string::npos);
  CHECK(run_command(kBinary + " version", &code).find("pgvigil") != std::string::npos);
  CHECK(code == 0);
  run_command(kBinary + " run --help", &code);
  CHECK(code == 0);
  run_command(kBinary + " no-such-command", &code);
  CHECK(code == 2);
}

TEST_CASE("check-config never prints a password") {
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-cc");
  const std::string path = dir + "/secret.toml";
  pgvigil::test::write_file(path,
                            "[[target]]\nname = \"a\"\nconninfo = \"host=127.0.0.1 "
                            "password=s3cr3t-conninfo\"\n[[target]]\nname = \"b\"\nhost = "
                            "\"127.0.0.1\"\npassword = \"s3cr3t-plain\"\n");
  int code = -1;
  const auto out = run_command(kBinary + " check-config " + path, &code);
  CHECK(code == 0);
  CHECK(out.find("s3cr3t") == std::string::npos);
  CHECK(out.find("redacted") != std::string::npos);
  run_command("rm -rf " + dir);
}

TEST_CASE("reload: a bad file keeps the old config, a good one adds a target and keeps the rest") {
  PgCluster cluster;
  const std::string first =
      kHeader + target("one", cluster.primary_port(), cluster.monitor_password_file());
  DaemonProcess daemon(first);
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "one"}}) == 1.0; }, 10s));
  const auto up_since = daemon.metric("pg_up_since_timestamp_seconds", {{"target", "one"}});
  REQUIRE(up_since);

  // A broken file: logged, the old config keeps running.
  std::string state_dir = daemon.dir() + "/state";
  pgvigil::test::write_file(daemon.config_path(), first + "bogus_key = 1\n");
  daemon.signal(SIGHUP);
  CHECK(wait_until([&] { return daemon.metric("pgvigil_config_last_reload_successful") == 0.0; },
                   5s));
  CHECK(daemon.metric("pg_up", {{"target", "one"}}) == 1.0);
  CHECK(daemon.log().find("previous configuration keeps running") != std::string::npos);

  // A good file adding a target: the new one appears, the old one keeps its connection.
  std::string second =
      first + target("two", cluster.primary_port(), cluster.monitor_password_file());
  for (auto pos = second.find("@STATE@"); pos != std::string::npos; pos = second.find("@STATE@"))
    second.replace(pos, 7, state_dir);
  pgvigil::test::write_file(daemon.config_path(), second);
  daemon.signal(SIGHUP);
  CHECK(wait_until([&] { return daemon.metric("pg_up", {{"target", "two"}}) == 1.0; }, 10s));
  CHECK(daemon.metric("pgvigil_config_last_reload_successful") == 1.0);
  CHECK(daemon.metric("pg_up_since_timestamp_seconds", {{"target", "one"}}) == up_since);

  // Removing a target removes its series.
  pgvigil::test::write_file(
      daemon.config_path(),
      "state_directory = \"" + state_dir + "\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n" +
          target("two", cluster.primary_port(), cluster.monitor_password_file()));
  daemon.signal(SIGHUP);
  CHECK(wait_until([&] { return !daemon.metric("pg_up", {{"target", "one"}}).has_value(); }, 5s));
}

TEST_CASE("ready waits for the first round, health follows the loop, SIGTERM stops in 2 s") {
  // A listener that never answers keeps the first connection attempt pending
  // until its 5 s deadline: /ready must be 503 meanwhile.
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 8) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  setenv("PGVIGIL_TEST_FAULTS", "1", 1);
  DaemonProcess daemon(kHeader + "[[target]]\nname = \"hole\"\nhost = \"127.0.0.1\"\nport = " +
                       std::to_string(port) + "\n");
  unsetenv("PGVIGIL_TEST_FAULTS");
  CHECK(http_get(daemon.port(), "/ready").status == 503);
  CHECK(http_get(daemon.port(), "/health").status == 200);
  CHECK(wait_until([&] { return http_get(daemon.port(), "/ready").status == 200; }, 10s));
  CHECK(http_get(daemon.port(), "/nope").status == 404);
  const auto landing = http_get(daemon.port(), "/");
  CHECK(landing.status == 200);
  CHECK(landing.body.find("hole") != std::string::npos);
  // The runbooks travel with the daemon: the index and a page.
  CHECK(landing.body.find("/runbooks/") != std::string::npos);
  const auto index = http_get(daemon.port(), "/runbooks/");
  CHECK(index.status == 200);
  CHECK(index.body.find("(PostgresDown.md)") != std::string::npos);
  const auto page = http_get(daemon.port(), "/runbooks/PostgresDown.md");
  CHECK(page.status == 200);
  CHECK(page.body.starts_with("# PostgresDown"));
  CHECK(page.headers.at("content-type") == "text/plain; charset=utf-8");
  const auto gz = http_get(daemon.port(), "/metrics", 3000ms, "Accept-Encoding: gzip\r\n");
  CHECK(gz.headers.at("content-encoding") == "gzip");
  CHECK(gz.headers.at("content-type").find("version=0.0.4") != std::string::npos);

  // Wedge the loop (test-only hook): /health cannot answer 200 while stalled,
  // and afterwards it reports the stall until the loop has caught up.
  daemon.signal(SIGUSR1);
  std::this_thread::sleep_for(500ms);
  CHECK(http_get(daemon.port(), "/health", 1000ms).status != 200);

  // SIGTERM (queued behind the stall) still ends the process; time it after
  // the stall ends.
  std::this_thread::sleep_for(20s);
  const auto start = std::chrono::steady_clock::now();
  const auto code = daemon.terminate(3s);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(took < 2s);
  ::close(silent);
}
