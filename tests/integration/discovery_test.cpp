// Targets from discovery against real PostgreSQL: file_sd files watched with
// inotify (add, change, remove, broken files, conflicts) and an http_sd
// endpoint served by the test; a removed target's alert resolved.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "alerts/alertmanager_payload.hpp"
#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::HttpRecorder;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;
using pgvigil::test::write_file;

namespace {

// Each discovered target watches its own database, so its session's backend
// can be told apart in pg_stat_activity.
std::string entry(const std::string& name, int port, const std::string& extra_labels = "") {
  return "{\"targets\": [\"127.0.0.1:" + std::to_string(port) + "\"], \"labels\": {\"target\": \"" +
         name + "\", \"dbname\": \"sd_" + name + "\"" + extra_labels + "}}";
}

std::string list(const std::vector<std::string>& entries) {
  std::string out = "[\n";
  for (std::size_t i = 0; i < entries.size(); ++i)
    out += "  " + entries[i] + (i + 1 < entries.size() ? ",\n" : "\n");
  return out + "]\n";
}

// The oldest pgvigil session on the target's database: its monitoring session.
std::string session_pid(TestConnection& admin, const std::string& name) {
  const auto rows = admin.query(
      "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'pgvigil' AND datname = "
      "'sd_" +
      name + "' ORDER BY backend_start LIMIT 1");
  return rows.empty() || !rows[0][0] ? std::string() : *rows[0][0];
}

std::string config_with(const PgCluster& cluster, const std::string& sources) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n" + sources +
         "\n[[target_template]]\nmatch = { env = \"test\" }\nuser = \"pgvigil_monitor\"\n"
         "password_file = \"" +
         cluster.monitor_password_file() + "\"\n";
}

}  // namespace

TEST_CASE("file_sd: targets come and go with the files, unchanged ones keep their session") {
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  for (const char* name : {"a", "b", "c"}) {
    admin.query(std::string("CREATE DATABASE sd_") + name);
  }
  admin.query("GRANT CONNECT ON DATABASE sd_a, sd_b, sd_c TO pgvigil_monitor");
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-sd");
  const int port = cluster.primary_port();
  const std::string env = ", \"env\": \"test\"";
  write_file(dir + "/one.json", list({entry("a", port, env), entry("b", port, env)}));

  // refresh_interval is long: what is seen below comes from inotify.
  DaemonProcess daemon(config_with(
      cluster, "[[file_sd]]\nfiles = [\"" + dir + "/*.json\"]\nrefresh_interval = \"1h\"\n"));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_up", {{"target", "a"}}) == 1.0 &&
               daemon.metric("pg_up", {{"target", "b"}}) == 1.0;
      },
      15s));
  CHECK(daemon.metric("pgvigil_sd_targets", {{"source", "file_sd"}}) == 2.0);
  CHECK(daemon.metric("pgvigil_sd_last_refresh_success_timestamp_seconds",
                      {{"source", "file_sd"}}) > 0.0);
  CHECK(daemon.metric("pg_up", {{"target", "a"}, {"env", "test"}}) == 1.0);  // labels exported
  REQUIRE(wait_until([&] { return !session_pid(admin, "a").empty(); }, 5s));
  const std::string pid_a = session_pid(admin, "a");

  SUBCASE("add, change and remove") {
    // Add c, relabel b: c appears within a second or two, a is untouched.
    write_file(dir + "/one.json",
               list({entry("a", port, env), entry("b", port, env + ", \"tier\": \"gold\""),
                     entry("c", port, env)}));
    const auto added = wait_until(
        [&] {
          return daemon.metric("pg_up", {{"target", "c"}}) == 1.0 &&
                 daemon.metric("pg_up", {{"target", "b"}, {"tier", "gold"}}) == 1.0;
        },
        10s);
    REQUIRE(added);
    MESSAGE("added target up after " << added->count() << " ms");
    CHECK(wait_until(
        [&] {
          return daemon.metric("pgvigil_sd_targets", {{"source", "file_sd"}}) == 3.0;
        },
        5s));
    CHECK(session_pid(admin, "a") == pid_a);

    // Remove b (and its file's other entries stay).
    write_file(dir + "/one.json", list({entry("a", port, env), entry("c", port, env)}));
    CHECK(wait_until([&] { return !daemon.metric("pg_up", {{"target", "b"}}).has_value(); }, 10s));
    CHECK(daemon.metric("pg_up", {{"target", "c"}}) == 1.0);
    CHECK(session_pid(admin, "a") == pid_a);
    CHECK(wait_until([&] { return session_pid(admin, "b").empty(); }, 10s));  // b's session ended
  }

  SUBCASE("a broken file keeps the last good list; a conflict is logged once") {
    const double failures_before =
        daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "file_sd"}}).value_or(0);
    write_file(dir + "/one.json", "[\n  " + entry("a", port, env) + ",\n  {\"targets\": \n");
    CHECK(wait_until(
        [&] {
          return daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "file_sd"}})
                     .value_or(0) > failures_before;
        },
        10s));
    CHECK(daemon.log().find(dir + "/one.json:4:") != std::string::npos);  // file:line
    CHECK(daemon.log().find("keeps its last good list (2 entries)") != std::string::npos);
    CHECK(daemon.metric("pg_up", {{"target", "a"}}) == 1.0);
    CHECK(daemon.metric("pg_up", {{"target", "b"}}) == 1.0);

    // Repaired, plus a second file naming "a" again: the first file's entry wins.
    write_file(dir + "/one.json", list({entry("a", port, env), entry("b", port, env)}));
    write_file(dir + "/two.json", list({entry("a", port, ", \"env\": \"other\"")}));
    CHECK(wait_until(
        [&] {
          return daemon.log().find("target a is already defined by source file_sd") !=
                 std::string::npos;
        },
        10s));
    CHECK(daemon.metric("pg_up", {{"target", "a"}, {"env", "test"}}) == 1.0);
    // Touching the file again does not log the same conflict again.
    write_file(dir + "/two.json", list({entry("a", port, ", \"env\": \"other\"")}));
    std::this_thread::sleep_for(1500ms);  // bounded: lets a second refresh land
    const std::string log = daemon.log();
    const auto first = log.find("target a is already defined");
    CHECK(log.find("target a is already defined", first + 1) == std::string::npos);
    CHECK(session_pid(admin, "a") == pid_a);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("http_sd: targets from a local endpoint; a bad reply keeps the last good list") {
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE DATABASE sd_h");
  admin.query("GRANT CONNECT ON DATABASE sd_h TO pgvigil_monitor");
  const int port = cluster.primary_port();
  HttpRecorder endpoint;
  endpoint.set_reply(200, list({entry("h", port, ", \"env\": \"test\"")}));
  DaemonProcess daemon(config_with(
      cluster, "[[http_sd]]\nname = \"inventory\"\nurl = \"http://127.0.0.1:" +
                   std::to_string(endpoint.port()) + "/sd\"\nrefresh_interval = \"1s\"\n"));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "h"}}) == 1.0; }, 15s));
  CHECK(wait_until(
      [&] {
        return daemon.metric("pgvigil_sd_targets", {{"source", "inventory"}}) == 1.0;
      },
      5s));
  REQUIRE(endpoint.count() >= 1);
  CHECK(endpoint.requests()[0].head.starts_with("GET /sd HTTP/1.1"));

  // Not the expected JSON: counted, logged with the source, the target stays.
  endpoint.set_reply(200, "{\"targets\": \"nope\"}");
  CHECK(wait_until(
      [&] {
        return daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "inventory"}})
                   .value_or(0) >= 1.0;
      },
      10s));
  CHECK(daemon.log().find("discovery: source inventory: http_sd inventory:") != std::string::npos);
  CHECK(daemon.metric("pg_up", {{"target", "h"}}) == 1.0);

  // An HTTP error, then too large a reply: still the last good list.
  endpoint.set_reply(503, "");
  CHECK(wait_until([&] { return daemon.log().find("HTTP 503") != std::string::npos; }, 10s));
  endpoint.set_reply(200, std::string(5 * 1024 * 1024, ' '));
  CHECK(wait_until(
      [&] {
        return daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "inventory"}})
                   .value_or(0) >= 3.0;
      },
      10s));
  CHECK(daemon.metric("pg_up", {{"target", "h"}}) == 1.0);

  // An empty list removes the target.
  endpoint.set_reply(200, "[]");
  CHECK(wait_until([&] { return !daemon.metric("pg_up", {{"target", "h"}}).has_value(); }, 10s));
  CHECK(wait_until(
      [&] {
        return daemon.metric("pgvigil_sd_targets", {{"source", "inventory"}}) == 0.0;
      },
      5s));
}

TEST_CASE("file_sd: a removed target's firing alert is sent resolved, its series go") {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/pgvigil-sd-gone-" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  // Nothing listens on port 1: the target is down (refused) from its first attempt.
  write_file(dir + "/gone.json",
             "[{\"targets\": [\"127.0.0.1:1\"], \"labels\": {\"target\": \"gone\"}}]\n");
  HttpRecorder alertmanager;
  DaemonProcess daemon(
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[alerting]\nalertmanagers = [\"http://127.0.0.1:" +
      std::to_string(alertmanager.port()) +
      "\"]\nevaluation_interval = \"200ms\"\nresend_interval = \"1m\"\n"
      "[alerting.rules.PostgresDown]\nfor = \"1s\"\n"
      "[[file_sd]]\nfiles = [\"" +
      dir + "/*.json\"]\n");
  const auto pushes_about_gone = [&] {
    std::vector<nlohmann::json> out;
    for (const auto& request : alertmanager.requests()) {
      const auto body = nlohmann::json::parse(request.body, nullptr, false);
      if (!body.is_array()) continue;
      for (const auto& alert : body)
        if (alert["labels"].value("alertname", "") == "PostgresDown" &&
            alert["labels"].value("target", "") == "gone")
          out.push_back(alert);
    }
    return out;
  };
  REQUIRE(wait_until([&] { return !pushes_about_gone().empty(); }, 15s));
  CHECK(daemon.metric("pg_up", {{"target", "gone"}}) == 0.0);
  const std::size_t firing_pushes = pushes_about_gone().size();

  write_file(dir + "/gone.json", "[]\n");
  CHECK(wait_until([&] { return !daemon.metric("pg_up", {{"target", "gone"}}).has_value(); }, 10s));
  // The next push about it carries an endsAt that has passed: resolved.
  REQUIRE(wait_until([&] { return pushes_about_gone().size() > firing_pushes; }, 10s));
  const auto resolved = pushes_about_gone().back();
  CHECK(resolved.contains("endsAt"));
  CHECK(resolved.value("endsAt", "") <= pgvigil::alerts::rfc3339(pgvigil::alerts::Clock::now()));
  std::filesystem::remove_all(dir);
}
