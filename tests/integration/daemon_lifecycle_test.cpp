// The binary as an operator meets it: check-config, reload, readiness, health
// and shutdown, against real PostgreSQL.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

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
  CHECK(index.headers.at("content-type") == "text/html; charset=utf-8");
  CHECK(index.body.find("href=\"PostgresDown\"") != std::string::npos);
  CHECK(http_get(daemon.port(), "/runbooks/README.md").body.find("(PostgresDown.md)") !=
        std::string::npos);
  const auto html = http_get(daemon.port(), "/runbooks/PostgresDown");
  CHECK(html.status == 200);
  CHECK(html.body.find("<title>PostgresDown · pgvigil</title>") != std::string::npos);
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

TEST_CASE("check-config, start and reload refuse files and conninfo that cannot be used") {
  // Issue 20: a missing password_file and a malformed URI passed check-config;
  // libpq quoted the URI, password included, into every output channel.
  PgCluster cluster;
  const std::string secret = "Uri-Secret-7731";
  const std::string good =
      kHeader + target("one", cluster.primary_port(), cluster.monitor_password_file());
  DaemonProcess daemon(good);
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "one"}}) == 1.0; }, 10s));
  const std::string state_dir = daemon.dir() + "/state";
  const auto with_state = [&](std::string text) {
    for (auto pos = text.find("@STATE@"); pos != std::string::npos; pos = text.find("@STATE@"))
      text.replace(pos, 7, state_dir);
    return text;
  };
  const std::string missing_file = daemon.dir() + "/no-such.pass";
  const std::string bad_uri =
      "[[target]]\nname = \"uri\"\nconninfo = \"postgresql://u:" + secret + "@[::1/postgres\"\n";
  double reloads_failed = 0;
  for (const std::string& broken :
       {with_state(kHeader + target("one", cluster.primary_port(), missing_file)),
        with_state(good + bad_uri)}) {
    CAPTURE(broken);
    // check-config: exit 1, the problem named, no secret.
    const std::string path = daemon.dir() + "/broken.toml";
    pgvigil::test::write_file(path, broken);
    int code = -1;
    const std::string checked = run_command(kBinary + " check-config " + path + " 2>&1", &code);
    CHECK(code == 1);
    CHECK(checked.find(secret) == std::string::npos);
    CHECK((checked.find("no-such.pass") != std::string::npos ||
           checked.find("invalid conninfo") != std::string::npos));
    // Start: refused the same way.
    const std::string started =
        run_command("timeout 20 " + kBinary + " run -c " + path + " 2>&1", &code);
    CHECK(code == 1);
    CHECK(started.find(secret) == std::string::npos);
    // Reload: fails, and the running target keeps its connection.
    pgvigil::test::write_file(daemon.config_path(), broken);
    daemon.signal(SIGHUP);
    ++reloads_failed;
    CHECK(wait_until(
        [&] {
          const auto log = daemon.log();
          std::size_t count = 0;
          for (auto pos = log.find("previous configuration keeps running");
               pos != std::string::npos;
               pos = log.find("previous configuration keeps running", pos + 1))
            ++count;
          return static_cast<double>(count) >= reloads_failed;
        },
        5s));
    CHECK(daemon.metric("pgvigil_config_last_reload_successful") == 0.0);
    CHECK(daemon.metric("pg_up", {{"target", "one"}}) == 1.0);
    CHECK_FALSE(daemon.metric("pg_up", {{"target", "uri"}}));
  }
  CHECK(daemon.log().find(secret) == std::string::npos);
  CHECK(daemon.log().find("no-such.pass") != std::string::npos);
}

TEST_CASE("log level: --log-level is checked and kept over a reload") {
  PgCluster cluster;
  int code = -1;
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-level");
  pgvigil::test::write_file(dir + "/c.toml", "[[target]]\nname = \"a\"\nhost = \"127.0.0.1\"\n");
  const std::string bogus = run_command(
      "timeout 20 " + kBinary + " run -c " + dir + "/c.toml --log-level bogus 2>&1", &code);
  CHECK(code == 2);
  CHECK(bogus.find("--log-level must be one of") != std::string::npos);
  run_command("rm -rf " + dir);

  // The file says info; the command line says debug, before and after SIGHUP.
  const std::string config = kHeader + "[log]\nlevel = \"info\"\n" +
                             target("one", cluster.primary_port(), cluster.monitor_password_file());
  DaemonProcess daemon(config, {"--log-level", "debug"});
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "one"}}) == 1.0; }, 10s));
  daemon.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] { return daemon.log().find("configuration reloaded") != std::string::npos; }, 5s));
  // A request with an oversized header is refused with a debug-level line.
  const auto reply =
      http_get(daemon.port(), "/metrics", 3000ms, "X-Big: " + std::string(9000, 'a') + "\r\n");
  CHECK(reply.status == 431);
  CHECK(wait_until(
      [&] {
        const auto log = daemon.log();
        const auto reloaded = log.find("configuration reloaded");
        return log.find("rejecting request with 431", reloaded) != std::string::npos;
      },
      3s));
}

TEST_CASE("JSON logs stay JSON when the server ends pgvigil's session") {
  // Issue 20: libpq printed the server's FATAL for an idle session raw to
  // stderr, between the JSON lines.
  PgCluster cluster;
  DaemonProcess daemon(kHeader + "[log]\nformat = \"json\"\nlevel = \"info\"\n" +
                       target("one", cluster.primary_port(), cluster.monitor_password_file()));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "one"}}) == 1.0; }, 10s));
  pgvigil::test::TestConnection admin(cluster.conninfo(cluster.primary_port()));
  // Three times, so that at least once the session is idle (a round takes
  // milliseconds of each second) and the message arrives as a notice.
  // Each time, the next termination waits for a new session: pg_up alone
  // is still 1 before the daemon has seen the end of the old one.
  const auto sessions = [&] {
    std::vector<std::string> pids;
    for (const auto& row : admin.query("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                       "'pgvigil' ORDER BY pid"))
      pids.push_back(row.at(0).value_or(""));
    return pids;
  };
  for (int i = 0; i < 3; ++i) {
    const auto before = sessions();
    admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'pgvigil'");
    REQUIRE(wait_until(
        [&] {
          const auto now = sessions();
          return !now.empty() && now != before &&
                 daemon.metric("pg_up", {{"target", "one"}}) == 1.0;
        },
        10s));
  }
  // The daemon logs the server's message as it reads it: give it that moment.
  CHECK(wait_until([&] { return daemon.log().find("57P01") != std::string::npos; }, 5s));
  const std::string log = daemon.log();
  std::size_t lines = 0;
  for (std::size_t begin = 0; begin < log.size();) {
    auto end = log.find('\n', begin);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty()) continue;
    ++lines;
    CAPTURE(line);
    CHECK(nlohmann::json::accept(line));
  }
  CHECK(lines > 3);
  CHECK(log.find("server message: FATAL") != std::string::npos);
  CHECK(log.find("57P01") != std::string::npos);
}
