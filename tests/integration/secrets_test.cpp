// Issue 10: a known password never leaves the daemon, whatever channel one
// reads: logs, /metrics, the landing page, the JSON APIs, alert evidence and
// check-config's output.
#include <doctest/doctest.h>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::http_get;
using pgvigil::test::PgCluster;
using pgvigil::test::run_command;
using pgvigil::test::wait_until;

TEST_CASE("secrets: a known password appears in no output channel") {
  PgCluster cluster;
  const std::string known_wrong = "Wr0ng-Kn0wn-Secret-4242";
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-secret");
  pgvigil::test::write_file(dir + "/wrong.pass", known_wrong + "\n");
  const std::string good_password = cluster.monitor_password();
  const std::string port = std::to_string(cluster.primary_port());

  // One target with the real password inline in a conninfo, one with a wrong
  // password from a file (it fails with auth_failed and fires PostgresDown),
  // one whose URI carries the wrong password.
  const std::string config =
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[log]\nlevel = \"debug\"\n"
      "[alerting.rules.PostgresDown]\nfor = \"1s\"\n"
      "[[target]]\nname = \"inline\"\nconninfo = \"host=127.0.0.1 port=" +
      port + " user=pgvigil_monitor dbname=postgres password=" + good_password +
      "\"\n"
      "[[target]]\nname = \"wrongfile\"\nhost = \"127.0.0.1\"\nport = " +
      port + "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" + dir +
      "/wrong.pass\"\n"
      "[[target]]\nname = \"uri\"\nconninfo = \"postgresql://pgvigil_monitor:" +
      known_wrong + "@127.0.0.1:" + port + "/postgres\"\n";
  DaemonProcess daemon(config);
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "inline"}}) == 1.0; }, 10s));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_connection_failure",
                             {{"target", "wrongfile"}, {"reason", "auth_failed"}}) == 1.0;
      },
      10s));
  // PostgresDown for the failing targets, with evidence, in the alerts API.
  REQUIRE(wait_until(
      [&] {
        const auto alerts = http_get(daemon.port(), "/api/v1/alerts").body;
        return alerts.find("PostgresDown") != std::string::npos &&
               alerts.find("wrongfile") != std::string::npos;
      },
      15s, 250ms));

  std::vector<std::pair<std::string, std::string>> channels{
      {"log", daemon.log()},
      {"/metrics", daemon.metrics()},
      {"/", http_get(daemon.port(), "/").body},
      {"/api/v1/targets", http_get(daemon.port(), "/api/v1/targets").body},
      {"/api/v1/alerts", http_get(daemon.port(), "/api/v1/alerts").body},
      {"check-config",
       run_command(std::string(PGVIGIL_BINARY) + " check-config " + daemon.config_path())},
  };
  for (const auto& [name, text] : channels) {
    INFO("channel " << name);
    CHECK_FALSE(text.empty());
    CHECK(text.find(good_password) == std::string::npos);
    CHECK(text.find(known_wrong) == std::string::npos);
  }
  run_command("rm -rf " + dir);
}
