// Issue 18: custom SQL collectors against a real server through the real
// daemon: several rows with two label columns, a gauge and a counter; the
// branch for the server's version; every database of the walk; the row and
// series caps; an expectation per series; bad SQL, a non-numeric column and a
// timeout as errors of their own collector only, logged once per change.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

using MetricLabels = std::map<std::string, std::string>;

std::optional<double> value(const DaemonProcess& daemon, const std::string& name,
                            MetricLabels labels) {
  labels.emplace("target", "db");
  return daemon.metric(name, labels);
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Every collector once a second; the built-in SQL probes off (not what this tests).
constexpr std::string_view kCollectors = R"toml(
[[collector]]
name = "app_queue"
database = "app"
interval = "1s"
sql = "SELECT queue, status, count(*) AS depth, sum(attempts) AS attempts, max(note) AS note FROM jobs GROUP BY queue, status"
[collector.columns]
queue = "label"
status = "label"
depth = { usage = "gauge", help = "Jobs by queue and status", expect = "< 3" }
attempts = { usage = "counter", help = "Attempts so far" }
note = "discard"

[[collector]]
name = "era"
interval = "1s"
[[collector.branch]]
min_version = 160000
sql = "SELECT 'new' AS branch, 16 AS since"
[[collector.branch]]
max_version = 159999
sql = "SELECT 'old' AS branch, 13 AS since"
[collector.columns]
branch = "label"
since = "gauge"

[[collector]]
name = "never"
interval = "1s"
[[collector.branch]]
min_version = 990000
sql = "SELECT 1 AS v"
[collector.columns]
v = "gauge"

[[collector]]
name = "everywhere"
databases = ["*"]
exclude_databases = ["template*"]
interval = "1s"
sql = "SELECT count(*) AS tables FROM pg_class WHERE relname = 'jobs'"
[collector.columns]
tables = "gauge"

[[collector]]
name = "capped"
interval = "1s"
max_rows = 10
max_series = 4
sql = "SELECT g::text AS n, g AS v FROM generate_series(1, 50) g"
[collector.columns]
n = "label"
v = "gauge"

[[collector]]
name = "broken"
interval = "1s"
sql = "SELECT v FROM no_such_table"
[collector.columns]
v = "gauge"

[[collector]]
name = "wordy"
interval = "1s"
sql = "SELECT 'many' AS v"
[collector.columns]
v = "gauge"

[[collector]]
name = "sleepy"
interval = "1s"
timeout = "200ms"
sql = "SELECT 1 AS v FROM pg_sleep(2)"
[collector.columns]
v = "gauge"
)toml";

}  // namespace

TEST_CASE("collectors: rows with labels, version branches, every database, caps and errors") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE DATABASE app");
  TestConnection app(cluster.conninfo(port, "app"));
  app.query("CREATE TABLE jobs (queue text, status text, attempts int, note text)");
  app.query(
      "INSERT INTO jobs VALUES ('mail', 'ready', 1, 'a'), ('mail', 'ready', 2, 'b'), "
      "('mail', 'failed', 5, NULL), ('sms', 'ready', NULL, NULL)");
  app.query("GRANT SELECT ON jobs TO pgvigil_monitor");
  const int version_num = std::stoi(*admin.query("SHOW server_version_num")[0][0]);

  std::string config =
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[probes.activity]\nenabled = false\n[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\n"
      "port = " +
      std::to_string(port) + "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\n" +
      "password_file = \"" + cluster.monitor_password_file() + "\"\n" + std::string(kCollectors);
  DaemonProcess daemon(config);
  REQUIRE(wait_until([&] { return value(daemon, "pg_up", {}) == 1.0; }, 15s));

  {  // several rows, two label columns, a gauge and a counter; NULL gives no sample
    REQUIRE(wait_until(
        [&] {
          return value(daemon, "app_queue_depth", {{"queue", "mail"}, {"status", "ready"}}) == 2.0;
        },
        10s));
    CHECK(value(daemon, "app_queue_depth", {{"queue", "mail"}, {"status", "failed"}}) == 1.0);
    CHECK(value(daemon, "app_queue_depth", {{"queue", "sms"}, {"status", "ready"}}) == 1.0);
    CHECK(value(daemon, "app_queue_attempts", {{"queue", "mail"}, {"status", "ready"}}) == 3.0);
    CHECK_FALSE(value(daemon, "app_queue_attempts", {{"queue", "sms"}, {"status", "ready"}}));
    const std::string text = daemon.metrics();
    CHECK(text.find("# TYPE app_queue_attempts counter") != std::string::npos);
    CHECK(text.find("# HELP app_queue_depth Jobs by queue and status") != std::string::npos);
    CHECK(text.find("app_queue_note") == std::string::npos);
    CHECK(value(daemon, "pgvigil_collector_error", {{"collector", "app_queue"}}) == 0.0);
    CHECK(value(daemon, "pgvigil_collector_rows", {{"collector", "app_queue"}}) == 3.0);
  }

  {  // the expectation per series: the mail/ready queue reaches 3
    const MetricLabels ready{{"check", "app_queue_depth"}, {"queue", "mail"}, {"status", "ready"}};
    CHECK(value(daemon, "pgvigil_check_ok", ready) == 1.0);
    app.query("INSERT INTO jobs VALUES ('mail', 'ready', 0, NULL)");
    CHECK(wait_until([&] { return value(daemon, "pgvigil_check_ok", ready) == 0.0; }, 10s));
    CHECK(value(daemon, "pgvigil_check_ok",
                {{"check", "app_queue_depth"}, {"queue", "sms"}, {"status", "ready"}}) == 1.0);
  }

  {  // the branch for this server's version; none at all for "never"
    const bool new_branch = version_num >= 160000;
    INFO("server_version_num " << version_num);
    CHECK(value(daemon, "era_since", {{"branch", new_branch ? "new" : "old"}}) ==
          (new_branch ? 16.0 : 13.0));
    CHECK_FALSE(value(daemon, "era_since", {{"branch", new_branch ? "old" : "new"}}));
    const std::string text = daemon.metrics();
    CHECK(text.find("never_v") == std::string::npos);
    CHECK(text.find("collector=\"never\"") == std::string::npos);
  }

  {  // every database of the walk, minus the excluded ones
    REQUIRE(wait_until(
        [&] {
          return value(daemon, "everywhere_tables", {{"datname", "app"}}) == 1.0;
        },
        10s));
    CHECK(value(daemon, "everywhere_tables", {{"datname", "postgres"}}) == 0.0);
    CHECK_FALSE(value(daemon, "everywhere_tables", {{"datname", "template1"}}));
  }

  {  // the caps: 50 rows, 10 read, 4 series kept; the rest counted
    const MetricLabels rows{{"collector", "capped"}, {"reason", "rows"}};
    REQUIRE(wait_until([&] { return value(daemon, "pgvigil_collector_dropped_total", rows) >= 80; },
                       10s));
    CHECK(pgvigil::test::metric_series(daemon.metrics(), "capped_v") == 4);
    CHECK(value(daemon, "pgvigil_collector_dropped_total",
                {{"collector", "capped"}, {"reason", "series"}}) >= 12);
    CHECK(value(daemon, "pgvigil_collector_rows", {{"collector", "capped"}}) == 50.0);
  }

  {  // bad SQL, a non-numeric value, a timeout: errors of their collector only
    for (const char* name : {"broken", "wordy", "sleepy"})
      CHECK(wait_until(
          [&] {
            return value(daemon, "pgvigil_collector_error", {{"collector", name}}) == 1.0;
          },
          10s));
    CHECK_FALSE(value(daemon, "broken_v", {}));
    CHECK_FALSE(value(daemon, "wordy_v", {}));
    CHECK_FALSE(value(daemon, "sleepy_v", {}));
    CHECK(value(daemon, "pgvigil_collector_error", {{"collector", "app_queue"}}) == 0.0);
    CHECK(value(daemon, "pg_up", {}) == 1.0);
    // Several rounds later, still one log line each, naming file:line.
    const MetricLabels rows{{"collector", "capped"}, {"reason", "rows"}};
    const double seen = value(daemon, "pgvigil_collector_dropped_total", rows).value_or(0);
    CHECK(wait_until(
        [&] { return value(daemon, "pgvigil_collector_dropped_total", rows) >= seen + 80; }, 10s));
    const std::string log = daemon.log();
    CHECK(count(log, "collector broken (") == 1);
    CHECK(count(log, "relation \"no_such_table\" does not exist") == 1);
    CHECK(count(log, "collector wordy (") == 1);
    CHECK(count(log, "many is not a number") == 1);
    CHECK(count(log, "collector sleepy (") == 1);
    CHECK(count(log, "timed out after 200 ms") == 1);
    CHECK(log.find(daemon.config_path() + ":") != std::string::npos);
  }
}
