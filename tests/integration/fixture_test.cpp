// Proves the test fixture itself: if these fail, every other integration test
// would fail for reasons that have nothing to do with pgvigil.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/pg_cluster.hpp"

namespace fs = std::filesystem;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::run_command;
using pgvigil::test::TestConnection;

namespace {

// Polls condition every 50 ms until it holds or the timeout passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

std::string single_value(TestConnection& conn, const std::string& sql) {
  auto rows = conn.query(sql);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 1);
  REQUIRE(rows[0][0].has_value());
  return *rows[0][0];
}

bool process_exists(pid_t pid) {
  // A zombie still answers kill(0); /proc tells a reaped or zombie process apart.
  std::error_code ignored;
  if (!fs::exists("/proc/" + std::to_string(pid), ignored)) return false;
  auto status = run_command("awk '{print $3}' /proc/" + std::to_string(pid) + "/stat");
  return !status.empty() && status[0] != 'Z' && status[0] != 'X';
}

}  // namespace

TEST_CASE("pgcluster: primary and streaming replica with monitoring prerequisites") {
  std::string dir;
  std::string primary_data;
  std::string replica_data;
  std::vector<pid_t> postmasters;
  {
    PgClusterOptions options;
    options.replica = true;
    options.checksums = true;
    options.settings = {"work_mem=8MB"};
    PgCluster cluster(options);
    dir = cluster.dir();
    primary_data = cluster.primary_data();
    replica_data = cluster.replica_data();

    CHECK(cluster.primary_port() != cluster.replica_port());
    CHECK(cluster.password().size() >= 16);
    CHECK(cluster.monitor_password().size() >= 16);
    CHECK(cluster.password() != cluster.monitor_password());
    CHECK(fs::exists(cluster.primary_log()));
    CHECK(fs::exists(cluster.replica_log()));

    TestConnection primary(cluster.conninfo(cluster.primary_port()));
    TestConnection replica(cluster.conninfo(cluster.replica_port()));

    // Options reached the server.
    CHECK(single_value(primary, "show work_mem") == "8MB");
    CHECK(single_value(primary, "show data_checksums") == "on");
    CHECK(single_value(primary, "show listen_addresses") == "127.0.0.1");
    CHECK(single_value(primary, "show track_io_timing") == "on");

    // The replica is in recovery, streams, and the primary sees it.
    CHECK(single_value(primary, "select pg_is_in_recovery()") == "f");
    CHECK(single_value(replica, "select pg_is_in_recovery()") == "t");
    CHECK(single_value(replica, "select status from pg_stat_wal_receiver") == "streaming");
    auto senders =
        primary.query("select application_name, state, client_addr::text from pg_stat_replication");
    REQUIRE(senders.size() == 1);
    CHECK(senders[0][1] == "streaming");
    CHECK(senders[0][2] == "127.0.0.1/32");
    CHECK(single_value(primary, "select active from pg_replication_slots") == "t");

    // Writes on the primary reach the replica.
    primary.query("create table fixture_probe(v int); insert into fixture_probe values (42)");
    CHECK(eventually(
        [&] {
          return !replica.query("select 1 from pg_class where relname = 'fixture_probe'").empty();
        },
        std::chrono::seconds(10)));
    CHECK(single_value(replica, "select v from fixture_probe") == "42");

    // pg_stat_statements is loaded and records statements.
    primary.query("select count(*) from fixture_probe");
    CHECK(std::stoi(single_value(primary,
                                 "select count(*) from pg_stat_statements "
                                 "where query like '%from fixture_probe%'")) >= 1);

    // Archiving delivers the segment that pg_switch_wal() closed.
    std::string segment = single_value(primary, "select pg_walfile_name(pg_switch_wal())");
    CHECK(eventually([&] { return fs::exists(fs::path(cluster.archive_dir()) / segment); },
                     std::chrono::seconds(15)));

    // Errors carry their SQLSTATE.
    CHECK_THROWS_WITH(primary.query("select 1/0"), doctest::Contains("22012"));

    // The monitor role reads other users' activity in full (pg_monitor), and
    // cannot log in with a wrong password.
    TestConnection sleeper(cluster.conninfo(cluster.primary_port()));
    sleeper.send("select pg_sleep(30) /* fixture sleeper */");
    TestConnection monitor(cluster.conninfo(cluster.primary_port(), "postgres", "pgvigil_monitor"));
    CHECK(single_value(monitor, "select current_user") == "pgvigil_monitor");
    CHECK(single_value(monitor, "select rolsuper from pg_roles where rolname = current_user") ==
          "f");
    CHECK(eventually(
        [&] {
          auto rows = monitor.query("select query from pg_stat_activity where pid = " +
                                    std::to_string(sleeper.backend_pid()));
          return rows.size() == 1 && rows[0][0] &&
                 rows[0][0]->find("fixture sleeper") != std::string::npos;
        },
        std::chrono::seconds(5)));
    CHECK_THROWS_WITH(
        TestConnection("host=127.0.0.1 port=" + std::to_string(cluster.primary_port()) +
                       " user=pgvigil_monitor dbname=postgres password=wrong"),
        doctest::Contains("password authentication failed"));

    // kill leaves postmaster.pid behind; start_server recovers from it.
    pid_t killed = cluster.postmaster_pid("primary");
    cluster.kill_server("primary");
    CHECK_FALSE(process_exists(killed));
    CHECK(fs::exists(fs::path(primary_data) / "postmaster.pid"));
    CHECK(cluster.postmaster_pid("primary") == killed);
    cluster.start_server("primary");
    CHECK(cluster.postmaster_pid("primary") != killed);
    TestConnection after_restart(cluster.conninfo(cluster.primary_port()));
    CHECK(single_value(after_restart, "select v from fixture_probe") == "42");

    // A clean stop removes the pid file; promote ends recovery on the replica.
    cluster.stop_server("replica", "fast");
    CHECK_FALSE(fs::exists(fs::path(replica_data) / "postmaster.pid"));
    cluster.start_server("replica");
    cluster.promote();
    TestConnection promoted(cluster.conninfo(cluster.replica_port()));
    CHECK(single_value(promoted, "select pg_is_in_recovery()") == "f");
    postmasters = {cluster.postmaster_pid("primary"), cluster.postmaster_pid("replica")};
  }
  // The destructor stopped both servers and removed every file.
  CHECK_FALSE(fs::exists(dir));
  CHECK_FALSE(fs::exists(primary_data));
  REQUIRE(postmasters.size() == 2);
  for (pid_t pid : postmasters) CHECK_FALSE(process_exists(pid));
}

TEST_CASE("pgcluster: a server that cannot start fails with its log and leaves nothing") {
  PgClusterOptions options;
  options.settings = {"shared_buffers=not_a_size"};
  std::string message;
  try {
    PgCluster broken(options);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  CHECK(message.find("shared_buffers") != std::string::npos);
  CHECK(message.find("did not start") != std::string::npos);
  // The log tail names the cluster's configuration file; its directory is gone.
  auto conf = message.find("/primary/postgresql.conf");
  REQUIRE(conf != std::string::npos);
  auto quote = message.rfind('"', conf);
  REQUIRE(quote != std::string::npos);
  std::string cluster_dir = message.substr(quote + 1, conf - quote - 1);
  CHECK(cluster_dir.find("pgvigil-fixture-") != std::string::npos);
  CHECK_FALSE(fs::exists(cluster_dir));
}

TEST_CASE("pgcluster: a primary alone has no replica") {
  PgCluster cluster;
  TestConnection primary(cluster.conninfo(cluster.primary_port()));
  CHECK(single_value(primary, "select count(*) from pg_stat_replication") == "0");
  CHECK_THROWS_AS((void)cluster.replica_port(), std::logic_error);
  // Stopping twice is harmless: the fixture's stop is idempotent.
  int exit_code = -1;
  run_command(pgvigil::test::shell_quote(PGVIGIL_FIXTURE) + " stop " +
                  pgvigil::test::shell_quote(cluster.dir()),
              &exit_code);
  CHECK(exit_code == 0);
  CHECK_FALSE(fs::exists(cluster.dir()));
  run_command(pgvigil::test::shell_quote(PGVIGIL_FIXTURE) + " stop " +
                  pgvigil::test::shell_quote(cluster.dir()),
              &exit_code);
  CHECK(exit_code == 0);
}

TEST_CASE("run_command reports the exit status and both output streams") {
  int exit_code = -1;
  auto output = run_command("echo out; echo err >&2; exit 3", &exit_code);
  CHECK(exit_code == 3);
  CHECK(output.find("out") != std::string::npos);
  CHECK(output.find("err") != std::string::npos);
}
