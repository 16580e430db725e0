// Detections that need a real server to go through the failure: a postmaster
// restart, a backend killed with SIGKILL (crash and reinitialization without a
// restart), and what the daemon's own rule evaluation makes of them.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"
#include "support/tmpfs_mount.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::run_command;
using pgvigil::test::shell_quote;
using pgvigil::test::TestConnection;
using pgvigil::test::TmpfsMount;
using pgvigil::test::wait_until;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One local target "db" on the cluster's primary, its log read by the logs
// probe, rules evaluated every 200 ms. `alerting` is TOML for [alerting.*]
// tables, `target` TOML for [target.*] tables of "db".
std::string detections_config(const PgCluster& cluster, const std::string& alerting = {},
                              const std::string& target = {}) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n[alerting]\nevaluation_interval = \"200ms\"\n" +
         alerting + "[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\nport = " +
         std::to_string(cluster.primary_port()) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
         cluster.monitor_password_file() +
         "\"\n[target.probes.liveness]\ninterval = \"200ms\"\n"
         "[target.probes.logs]\ninterval = \"1s\"\n"
         "[target.log]\npath = \"" +
         cluster.primary_log() + "\"\n" + target;
}

// Prints how long the daemon took from `cause` to `what` (for the report).
void report_latency(const std::string& what, const std::string& cause,
                    std::chrono::steady_clock::time_point since) {
  std::cout << what << " "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - since)
                   .count()
            << " ms after " << cause << "\n";
}

// Whether the daemon has an alert of `alertname` (and `severity` if given) firing.
bool firing(const DaemonProcess& daemon, const std::string& alertname,
            const std::string& severity = {}) {
  std::map<std::string, std::string> labels{{"alertname", alertname}, {"alertstate", "firing"}};
  if (!severity.empty()) labels.emplace("severity", severity);
  return daemon.metric("pgvigil_alert_active", labels).value_or(0) == 1.0;
}

// Puts the data directory's owner and mode back on scope exit, pass or fail,
// so the cluster's teardown works.
class RestoreOwnership {
 public:
  explicit RestoreOwnership(std::string dir) : dir_(std::move(dir)) {
    struct stat st {};
    REQUIRE(::stat(dir_.c_str(), &st) == 0);
    uid_ = st.st_uid;
    gid_ = st.st_gid;
    mode_ = st.st_mode & 07777u;
  }
  ~RestoreOwnership() {
    if (::chown(dir_.c_str(), uid_, gid_) != 0 || ::chmod(dir_.c_str(), mode_) != 0)
      std::cerr << "could not restore the owner and mode of " << dir_ << "\n";
  }
  RestoreOwnership(const RestoreOwnership&) = delete;
  RestoreOwnership& operator=(const RestoreOwnership&) = delete;
  uid_t uid() const { return uid_; }

 private:
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  mode_t mode_ = 0700;
};

// Creates empty files in `dir` until `free_inodes` is at most `target`.
void use_inodes_until(const TmpfsMount& fs, const std::string& dir, double target) {
  static int serial = 0;
  for (int i = 0; i < 100'000 && fs.free_inodes() > target; ++i) {
    std::ofstream(dir + "/f" + std::to_string(serial++)).put('x');
  }
  REQUIRE(fs.free_inodes() <= target);
}

}  // namespace

TEST_CASE("detections: a killed backend is a crash, a restarted postmaster a restart") {
  PgCluster cluster;
  DaemonProcess daemon(detections_config(cluster));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_log_messages_total", {{"class", "crash"}, {"severity", "PANIC"}})
            .has_value();
      },
      15s));
  const auto first_start = daemon.metric("pg_postmaster_start_time_seconds", {{"target", "db"}});
  REQUIRE(first_start.has_value());
  // The rule fires on a rise of the counter, so the evaluator (every 200 ms)
  // must have seen it before the crash: on a loaded machine the logs probe
  // could otherwise count the crash before the first evaluation saw the 0.
  std::this_thread::sleep_for(2s);

  std::chrono::steady_clock::time_point killed;
  // kill -9 of one backend: the postmaster terminates every session,
  // reinitializes and runs crash recovery, but does not restart itself.
  {
    TestConnection victim(cluster.conninfo(cluster.primary_port()));
    const int pid = victim.backend_pid();
    victim.send("SELECT pg_sleep(60) /* detections-test victim */");
    REQUIRE(::kill(pid, SIGKILL) == 0);
    killed = std::chrono::steady_clock::now();
  }
  const bool crash_counted =
      wait_until(
          [&] {
            return daemon.metric("pg_log_messages_total", {{"class", "crash"}, {"severity", "LOG"}})
                       .value_or(0) >= 3;
          },
          30s, 100ms)
          .has_value();
  if (!crash_counted) std::cerr << daemon.log() << pgvigil::test::read_file(cluster.primary_log());
  REQUIRE(crash_counted);
  REQUIRE(wait_until([&] { return firing(daemon, "PostgresCrashed"); }, 15s));
  report_latency("PostgresCrashed firing", "kill -9 of a backend", killed);
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresCrashed");
  CHECK(api.status == 200);
  CHECK(contains(api.body, "\"class\":\"crash\""));
  const bool crash_line = contains(api.body, "was terminated by signal 9") ||
                          contains(api.body, "reinitializing") ||
                          contains(api.body, "automatic recovery");
  CHECK(crash_line);
  CHECK(contains(api.body, "/runbooks/PostgresCrashed.md"));

  // The server comes back by itself with the same postmaster: no restart.
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 30s));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_postmaster_start_time_seconds", {{"target", "db"}}).has_value();
      },
      15s));
  CHECK(daemon.metric("pg_postmaster_start_time_seconds", {{"target", "db"}}) == first_start);
  CHECK_FALSE(firing(daemon, "PostgresRestarted"));

  // A real stop and start: a new postmaster start time, the restart alert.
  cluster.stop_server("primary");
  cluster.start_server("primary");
  const auto restarted_at = std::chrono::steady_clock::now();
  const bool moved =
      wait_until(
          [&] {
            auto start = daemon.metric("pg_postmaster_start_time_seconds", {{"target", "db"}});
            return start && *start > *first_start;
          },
          30s, 100ms)
          .has_value();
  REQUIRE(moved);
  const bool restarted =
      wait_until([&] { return firing(daemon, "PostgresRestarted", "warning"); }, 15s).has_value();
  if (!restarted) std::cerr << daemon.log();
  REQUIRE(restarted);
  report_latency("PostgresRestarted firing", "the restarted server accepted connections",
                 restarted_at);
  CHECK_FALSE(firing(daemon, "PostgresRestarted", "critical"));
  const auto alerts =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresRestarted");
  CHECK(contains(alerts.body, "restarts within 15m: 1"));
  CHECK(contains(alerts.body, "postmaster start time before: "));
  CHECK(contains(alerts.body, "/runbooks/PostgresRestarted.md"));
}

TEST_CASE("detections: a data directory with the wrong mode or owner") {
  PgCluster cluster;
  DaemonProcess daemon(detections_config(
      cluster, "[alerting.rules.PostgresDataDirectoryPermissions]\nfor = \"1s\"\n",
      "[target.probes.datadir]\ninterval = \"500ms\"\n"));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_datadir_ownership_ok", {{"target", "db"}}) == 1.0;
      },
      15s));
  CHECK_FALSE(firing(daemon, "PostgresDataDirectoryPermissions"));
  const std::string dir = cluster.primary_data();
  RestoreOwnership restore(dir);

  SUBCASE("mode 0755: PostgreSQL would refuse to start") {
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    const auto changed_mode = std::chrono::steady_clock::now();
    const bool fired =
        wait_until([&] { return firing(daemon, "PostgresDataDirectoryPermissions"); }, 20s)
            .has_value();
    if (!fired) std::cerr << daemon.log();
    REQUIRE(fired);
    report_latency("PostgresDataDirectoryPermissions firing (for 1s)", "chmod 0755", changed_mode);
    CHECK(daemon.metric("pg_datadir_ownership_ok", {{"target", "db"}}) == 0.0);
    const auto api = pgvigil::test::http_get(
        daemon.port(), "/api/v1/alerts?alertname=PostgresDataDirectoryPermissions");
    CHECK(contains(api.body, "mode 0755"));
    CHECK(contains(api.body, "expected: owner uid " + std::to_string(restore.uid())));
    CHECK(contains(api.body, "/runbooks/PostgresDataDirectoryPermissions.md"));
    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    CHECK(wait_until([&] { return !firing(daemon, "PostgresDataDirectoryPermissions"); }, 20s));
  }

  SUBCASE("owned by another user") {
    if (::geteuid() != 0) {
      MESSAGE("not root: cannot chown the data directory; skipping");
      return;
    }
    REQUIRE(::chown(dir.c_str(), 0, 0) == 0);
    REQUIRE(wait_until([&] { return firing(daemon, "PostgresDataDirectoryPermissions"); }, 20s));
    const auto api = pgvigil::test::http_get(
        daemon.port(), "/api/v1/alerts?alertname=PostgresDataDirectoryPermissions");
    CHECK(contains(api.body, "owner uid 0 (root)"));
    CHECK(contains(api.body, "the owner of PG_VERSION"));
  }
}

TEST_CASE("detections: the data filesystem runs out of inodes") {
  // initdb makes ~1000 files and directories; 2000 inodes leave ~half free.
  TmpfsMount tmpfs("size=256M,nr_inodes=2000");
  PgClusterOptions options;
  options.data_parent = tmpfs.path();
  PgCluster cluster(options);
  DaemonProcess daemon(detections_config(cluster,
                                         "[alerting.rules.PostgresInodesLow]\nfor = \"1s\"\n",
                                         "[target.probes.disk]\ninterval = \"500ms\"\n"));
  const std::map<std::string, std::string> data_fs{
      {"target", "db"}, {"role", "data"}, {"mountpoint", tmpfs.path()}};
  REQUIRE(
      wait_until([&] { return daemon.metric("pg_filesystem_files", data_fs).has_value(); }, 15s));
  CHECK(daemon.metric("pg_filesystem_files", data_fs) == tmpfs.inodes());
  CHECK_FALSE(firing(daemon, "PostgresInodesLow"));
  const double total = tmpfs.inodes();
  const std::string filler = tmpfs.path() + "/filler";
  std::filesystem::create_directory(filler);

  // 8 % free: a warning, no critical.
  use_inodes_until(tmpfs, filler, total * 0.08);
  const bool warned =
      wait_until([&] { return firing(daemon, "PostgresInodesLow", "warning"); }, 20s).has_value();
  if (!warned) std::cerr << daemon.metrics();
  REQUIRE(warned);
  CHECK_FALSE(firing(daemon, "PostgresInodesLow", "critical"));
  const auto free_seen = daemon.metric("pg_filesystem_files_free", data_fs);
  REQUIRE(free_seen.has_value());
  CHECK(*free_seen <= total * 0.08);

  // 3 % free (the server still needs a few): critical as well.
  use_inodes_until(tmpfs, filler, total * 0.03);
  REQUIRE(wait_until([&] { return firing(daemon, "PostgresInodesLow", "critical"); }, 20s));
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresInodesLow");
  CHECK(contains(api.body, "inodes free on " + tmpfs.path()));
  CHECK(contains(api.body, "/runbooks/PostgresInodesLow.md"));

  std::filesystem::remove_all(filler);
  CHECK(wait_until([&] { return !firing(daemon, "PostgresInodesLow"); }, 20s));
}

TEST_CASE("detections: a setting pending restart, a deadlock, an out-of-memory error") {
  PgCluster cluster;
  DaemonProcess daemon(detections_config(cluster,
                                         "[alerting.rules.PostgresPendingRestart]\nfor = \"1s\"\n",
                                         "[target.probes.settings]\ninterval = \"500ms\"\n"
                                         "[target.probes.databases]\ninterval = \"500ms\"\n"));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));
  const std::map<std::string, std::string> postgres_db{{"target", "db"}, {"datname", "postgres"}};
  // Baselines: the counters and the log have been read once before anything happens.
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_settings_pending_restart_count", {{"target", "db"}}) == 0.0 &&
               daemon.metric("pg_stat_database_deadlocks", postgres_db).has_value() &&
               daemon
                   .metric("pg_log_messages_total",
                           {{"class", "out_of_memory"}, {"severity", "ERROR"}})
                   .has_value();
      },
      15s));
  TestConnection admin(cluster.conninfo(cluster.primary_port()));

  // ALTER SYSTEM of a restart-only setting, then a reload.
  const auto current = admin.query("SHOW max_connections").at(0).at(0).value_or("100");
  admin.query("ALTER SYSTEM SET max_connections = " + std::to_string(std::stoi(current) + 7));
  admin.query("SELECT pg_reload_conf()");
  const bool pending =
      wait_until([&] { return firing(daemon, "PostgresPendingRestart"); }, 20s).has_value();
  if (!pending) std::cerr << daemon.log();
  REQUIRE(pending);
  CHECK(daemon.metric("pg_settings_pending_restart_count", {{"target", "db"}}) == 1.0);
  auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresPendingRestart");
  CHECK(contains(api.body, "max_connections"));
  CHECK(contains(api.body, "/runbooks/PostgresPendingRestart.md"));
  admin.query("ALTER SYSTEM RESET max_connections");
  admin.query("SELECT pg_reload_conf()");
  CHECK(wait_until([&] { return !firing(daemon, "PostgresPendingRestart"); }, 20s));

  // Two transactions updating two rows in opposite order.
  admin.query("CREATE TABLE deadlock_test (id int PRIMARY KEY, v int)");
  admin.query("INSERT INTO deadlock_test VALUES (1, 0), (2, 0)");
  {
    TestConnection first(cluster.conninfo(cluster.primary_port()));
    TestConnection second(cluster.conninfo(cluster.primary_port()));
    first.query("BEGIN");
    first.query("UPDATE deadlock_test SET v = 1 WHERE id = 1");
    second.query("BEGIN");
    second.query("UPDATE deadlock_test SET v = 2 WHERE id = 2");
    first.send("UPDATE deadlock_test SET v = 1 WHERE id = 2");  // waits for second
    std::string error;
    try {
      second.query("UPDATE deadlock_test SET v = 2 WHERE id = 1");  // closes the cycle
    } catch (const std::exception& e) {
      error = e.what();
    }
    // One of the two is the victim (after deadlock_timeout); whichever it was,
    // both end their transactions.
    try {
      second.query("ROLLBACK");
      first.query("ROLLBACK");
    } catch (const std::exception& e) {
      error += e.what();
    }
    MESSAGE("deadlock outcome: " << (error.empty() ? "first session was the victim" : error));
  }  // closing the sessions flushes their statistics
  const bool deadlocked =
      wait_until([&] { return firing(daemon, "PostgresDeadlocks"); }, 30s).has_value();
  if (!deadlocked) std::cerr << daemon.metrics();
  REQUIRE(deadlocked);
  CHECK(daemon.metric("pg_stat_database_deadlocks", postgres_db).value_or(0) >= 1);
  CHECK(daemon.metric("pgvigil_alert_active",
                      {{"alertname", "PostgresDeadlocks"}, {"datname", "postgres"}}) == 1.0);
  CHECK(wait_until(
      [&] {
        return daemon
                   .metric("pg_log_messages_total", {{"class", "deadlock"}, {"severity", "ERROR"}})
                   .value_or(0) >= 1;
      },
      15s));
  // The evidence is taken when the alert fires, which may be before the logs
  // probe has read the deadlock's log line: only the labels are certain.
  api = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresDeadlocks");
  CHECK(contains(api.body, "\"datname\":\"postgres\""));
  CHECK(contains(api.body, "/runbooks/PostgresDeadlocks.md"));

  // The server restarted under a 1 GB address-space limit, then a 600 MB string.
  cluster.stop_server("primary");
  const std::string start = "ulimit -v 1000000 && " +
                            shell_quote(cluster.server_bin() + "/pg_ctl") + " -D " +
                            shell_quote(cluster.primary_data()) + " -l " +
                            shell_quote(cluster.primary_log()) + " -w -t 30 start";
  int exit_code = 0;
  const auto output =
      run_command(::geteuid() == 0 ? "cd / && runuser -u postgres -- bash -c " + shell_quote(start)
                                   : "bash -c " + shell_quote(start),
                  &exit_code);
  REQUIRE_MESSAGE(exit_code == 0, output);
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 30s));
  {
    TestConnection greedy(cluster.conninfo(cluster.primary_port()));
    std::string error;
    try {
      greedy.query("SELECT length(repeat('x', 600 * 1024 * 1024))");
    } catch (const std::exception& e) {
      error = e.what();
    }
    CHECK(contains(error, "53200"));
  }
  const bool oom =
      wait_until([&] { return firing(daemon, "PostgresOutOfMemory"); }, 30s).has_value();
  if (!oom) std::cerr << daemon.metrics();
  REQUIRE(oom);
  api = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresOutOfMemory");
  CHECK(contains(api.body, "out of memory"));
  CHECK(contains(api.body, "/runbooks/PostgresOutOfMemory.md"));
}

TEST_CASE("detections: another cluster behind the same port (the data directory replaced)") {
  PgCluster cluster;
  PgCluster other;  // initdb'ed on its own: another system identifier
  auto identifier = [](const PgCluster& c) {
    TestConnection admin(c.conninfo(c.primary_port()));
    return admin.query("SELECT system_identifier::text FROM pg_control_system()")
        .at(0)
        .at(0)
        .value_or("");
  };
  const auto old_id = identifier(cluster);
  const auto new_id = identifier(other);
  REQUIRE(old_id != new_id);
  {
    // The daemon's credentials, and the test's, must work on the replacement too.
    auto literal = [](std::string text) {
      for (auto at = text.find('\''); at != std::string::npos; at = text.find('\'', at + 2))
        text.insert(at, "'");
      return "'" + text + "'";
    };
    TestConnection admin(other.conninfo(other.primary_port()));
    admin.query("ALTER ROLE pgvigil_monitor PASSWORD " + literal(cluster.monitor_password()));
    admin.query("ALTER ROLE postgres PASSWORD " + literal(cluster.password()));
  }
  DaemonProcess daemon(detections_config(cluster));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_control_system_info",
                             {{"target", "db"}, {"system_identifier", old_id}}) == 1.0;
      },
      15s));
  CHECK(daemon.metric("pg_system_identifier_changes_total", {{"target", "db"}}) == 0.0);

  // As if the volume were lost and the container had initdb'ed a new cluster:
  // the same path and port, another cluster's files.
  other.stop_server("primary");
  cluster.stop_server("primary");
  const auto data = shell_quote(cluster.primary_data());
  int exit_code = 0;
  const auto output =
      run_command("mv " + data + " " + shell_quote(cluster.dir() + "/replaced-primary") +
                      " && cp -a " + shell_quote(other.primary_data()) + " " + data +
                      " && echo 'port = " + std::to_string(cluster.primary_port()) + "' >> " +
                      data + "/postgresql.conf",
                  &exit_code);
  REQUIRE_MESSAGE(exit_code == 0, output);
  cluster.start_server("primary");
  const auto replaced = std::chrono::steady_clock::now();
  CHECK(identifier(cluster) == new_id);

  const bool changed =
      wait_until([&] { return firing(daemon, "PostgresSystemIdentifierChanged"); }, 30s)
          .has_value();
  if (!changed) std::cerr << daemon.log();
  REQUIRE(changed);
  report_latency("PostgresSystemIdentifierChanged firing", "the replaced server started", replaced);
  CHECK(daemon.metric("pg_system_identifier_changes_total", {{"target", "db"}}) == 1.0);
  CHECK(daemon.metric("pg_control_system_info",
                      {{"target", "db"}, {"system_identifier", new_id}}) == 1.0);
  const auto api = pgvigil::test::http_get(
      daemon.port(), "/api/v1/alerts?alertname=PostgresSystemIdentifierChanged");
  CHECK(contains(api.body, "previous system identifier: " + old_id));
  CHECK(contains(api.body, "system identifier now: " + new_id));
  CHECK(contains(api.body, "/runbooks/PostgresSystemIdentifierChanged.md"));
  // A plain restart of the new cluster is not another change.
  cluster.stop_server("primary");
  cluster.start_server("primary");
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 30s));
  CHECK(daemon.metric("pg_system_identifier_changes_total", {{"target", "db"}}) == 1.0);
}

TEST_CASE("detections: a statement that got slower than its long-term mean") {
  PgCluster cluster;
  DaemonProcess daemon(detections_config(cluster,
                                         "[alerting.rules.PostgresQuerySlowdown]\nfor = \"2s\"\n"
                                         "min_mean = 0.002\nmin_calls = 5\n",
                                         "[target.probes.statements]\ninterval = \"1s\"\n"));
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));
  TestConnection app(cluster.conninfo(cluster.primary_port()));
  app.query("CREATE TABLE slowdown_orders (id int, pad text)");
  app.query("INSERT INTO slowdown_orders SELECT g, repeat('x', 100) FROM generate_series(1, 50) g");
  const std::string statement = "SELECT count(*), max(pad) FROM slowdown_orders";
  // A long fast history: the lifetime mean is well under a millisecond.
  for (int i = 0; i < 2000; ++i) app.query(statement);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_stat_statements_recent_calls", {{"target", "db"}}).has_value();
      },
      15s));

  // The table grows 10,000-fold: the same statement now reads 5 MB per call.
  app.query(
      "INSERT INTO slowdown_orders SELECT g, repeat('x', 100) FROM generate_series(1, 500000) g");
  app.query("ANALYZE slowdown_orders");
  const auto slowed = std::chrono::steady_clock::now();
  bool fired = false;
  for (int i = 0; i < 400 && !fired; ++i) {  // at most 400 slow calls (bounded)
    app.query(statement);
    fired = firing(daemon, "PostgresQuerySlowdown");
  }
  if (!fired)
    fired = wait_until([&] { return firing(daemon, "PostgresQuerySlowdown"); }, 5s).has_value();
  REQUIRE(fired);
  report_latency("PostgresQuerySlowdown firing (for 2s)", "the table grew", slowed);
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PostgresQuerySlowdown");
  CHECK(api.status == 200);
  CHECK(contains(api.body, "\"datname\":\"postgres\""));
  CHECK(contains(api.body, "lifetime mean"));
  CHECK(contains(api.body, "slowdown_orders"));  // the statement's text, from statements.top
  CHECK(contains(api.body, "/runbooks/PostgresQuerySlowdown.md"));
}
