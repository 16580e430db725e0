// Issue 4: every SQL probe's metrics asserted on a real condition created on a
// real PostgreSQL 15 server, read through the real daemon's /metrics.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "probes/database_patterns.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

using Clock = std::chrono::steady_clock;
using MetricLabels = std::map<std::string, std::string>;

constexpr std::string_view kSqlProbes[] = {"activity",  "connections", "settings",    "locks",
                                           "databases", "vacuum",      "indexes",     "statements",
                                           "bgwriter",  "wal",         "wait_events", "io"};

struct TargetSpec {
  std::string name = "db";
  int port = 0;
  std::string user = "pgvigil_monitor";
  std::string password_file;
  std::string dbname = "postgres";
  std::string extra;                  // more key = value lines of the [[target]] table
  std::vector<std::string> disabled;  // probes switched off for this test
  std::string after;                  // e.g. [[target.check]] tables
};

// Every SQL probe every second, so a test sees several rounds in a few seconds.
std::string target_toml(const TargetSpec& spec) {
  std::string block = "[[target]]\nname = \"" + spec.name +
                      "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(spec.port) +
                      "\nuser = \"" + spec.user + "\"\ndbname = \"" + spec.dbname +
                      "\"\npassword_file = \"" + spec.password_file + "\"\n" + spec.extra;
  for (auto probe : kSqlProbes) {
    block += "[target.probes." + std::string(probe) + "]\n";
    const bool off =
        std::find(spec.disabled.begin(), spec.disabled.end(), probe) != spec.disabled.end();
    block += off ? "enabled = false\n" : "interval = \"1s\"\n";
  }
  return block + spec.after;
}

std::string config_with(const std::string& targets) {
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n[log]\nlevel = "
         "\"info\"\n" +
         targets;
}

TargetSpec monitor_target(const PgCluster& cluster) {
  TargetSpec spec;
  spec.port = cluster.primary_port();
  spec.password_file = cluster.monitor_password_file();
  return spec;
}

MetricLabels with_target(MetricLabels labels, const std::string& target = "db") {
  labels.emplace("target", target);
  return labels;
}

double value_of(const DaemonProcess& daemon, const std::string& name, const MetricLabels& labels) {
  return daemon.metric(name, with_target(labels)).value_or(-1.0);
}

bool metric_is(const DaemonProcess& daemon, const std::string& name, const MetricLabels& labels,
               double expected) {
  return daemon.metric(name, with_target(labels)) == expected;
}

bool metric_at_least(const DaemonProcess& daemon, const std::string& name,
                     const MetricLabels& labels, double minimum) {
  auto value = daemon.metric(name, with_target(labels));
  return value && *value >= minimum;
}

void wait_up(const DaemonProcess& daemon, const std::string& target = "db") {
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", target}}) == 1.0; }, 15s));
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Metric names (without labels) of every sample carrying target="<target>".
std::set<std::string> metric_names(const std::string& exposition, const std::string& target) {
  std::set<std::string> names;
  std::istringstream in(exposition);
  std::string line;
  const std::string target_label = "target=\"" + target + "\"";
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto end = line.find_first_of("{ ");
    if (end == std::string::npos) continue;
    if (line.find(target_label) == std::string::npos) continue;
    names.insert(line.substr(0, end));
  }
  return names;
}

std::string pid_of(const TestConnection& connection) {
  return std::to_string(connection.backend_pid());
}

}  // namespace

TEST_CASE("activity: sessions in each state, idle in transaction, a long query, a lock wait") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE DATABASE app");
  {
    TestConnection setup(cluster.conninfo(port, "app"));
    setup.query("CREATE TABLE t (id int)");
    setup.query("INSERT INTO t SELECT generate_series(1, 10)");
  }
  // The vacuum probe visits every database with short-lived sessions, which
  // would blur the exact per-database counts below.
  auto spec = monitor_target(cluster);
  spec.disabled = {"vacuum", "indexes"};
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  const MetricLabels app_idle{{"datname", "app"}, {"state", "idle"}};
  const MetricLabels app_active{{"datname", "app"}, {"state", "active"}};
  const MetricLabels app_idle_tx{{"datname", "app"}, {"state", "idle in transaction"}};

  TestConnection idle(cluster.conninfo(port, "app"));
  TestConnection in_transaction(cluster.conninfo(port, "app"));
  TestConnection busy(cluster.conninfo(port, "app"));
  in_transaction.query("BEGIN");
  in_transaction.query("SELECT 1");
  const auto idle_since = Clock::now();
  busy.send("SELECT pg_sleep(60)");
  const auto busy_since = Clock::now();

  {  // one session in each state, every state present
    REQUIRE(wait_until(
        [&] {
          return metric_is(daemon, "pg_stat_activity_count", app_idle, 1) &&
                 metric_is(daemon, "pg_stat_activity_count", app_active, 1) &&
                 metric_is(daemon, "pg_stat_activity_count", app_idle_tx, 1);
        },
        10s));
    for (const char* state :
         {"idle in transaction (aborted)", "fastpath function call", "disabled"})
      CHECK(daemon.metric("pg_stat_activity_count",
                          with_target({{"datname", "app"}, {"state", state}})) == 0.0);
    // A second idle session moves the count, so it is not a constant.
    TestConnection another(cluster.conninfo(port, "app"));
    CHECK(wait_until([&] { return metric_is(daemon, "pg_stat_activity_count", app_idle, 2); }, 5s));
  }

  {  // idle in transaction and the long query age with the clock
    REQUIRE(wait_until(
        [&] {
          return metric_at_least(daemon, "pg_stat_activity_oldest_idle_in_transaction_seconds", {},
                                 3.0);
        },
        10s));
    const double idle_age =
        value_of(daemon, "pg_stat_activity_oldest_idle_in_transaction_seconds", {});
    const double measured = seconds_since(idle_since);
    std::cout << "idle in transaction: metric " << idle_age << " s, measured " << measured
              << " s\n";
    CHECK(idle_age >= 3.0);
    CHECK(idle_age <= measured + 0.5);
    CHECK(value_of(daemon, "pg_stat_activity_max_tx_duration", app_idle_tx) >= 3.0);

    REQUIRE(wait_until(
        [&] { return metric_at_least(daemon, "pg_stat_activity_longest_query_seconds", {}, 3.0); },
        10s));
    const double query_age = value_of(daemon, "pg_stat_activity_longest_query_seconds", {});
    CHECK(query_age <= seconds_since(busy_since) + 0.5);

    // Ending the transaction takes the age back to 0.
    in_transaction.query("COMMIT");
    CHECK(wait_until(
        [&] {
          return metric_is(daemon, "pg_stat_activity_oldest_idle_in_transaction_seconds", {}, 0);
        },
        5s));
  }

  {  // a lock wait between two sessions
    REQUIRE(wait_until([&] { return metric_is(daemon, "pg_stat_activity_count", app_active, 1); },
                       10s));
    CHECK(value_of(daemon, "pg_stat_activity_waiting_on_lock", {}) == 0.0);
    CHECK(value_of(daemon, "pg_stat_activity_blocked_sessions", {}) == 0.0);
    CHECK(value_of(daemon, "pg_stat_activity_longest_lock_wait_seconds", {}) == 0.0);

    TestConnection holder(cluster.conninfo(port, "app"));
    TestConnection waiter(cluster.conninfo(port, "app"));
    holder.query("BEGIN");
    holder.query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    waiter.send("SELECT count(*) FROM t");
    const auto waiting_since = Clock::now();

    REQUIRE(wait_until(
        [&] {
          return metric_is(daemon, "pg_stat_activity_waiting_on_lock", {}, 1) &&
                 metric_is(daemon, "pg_stat_activity_blocked_sessions", {}, 1);
        },
        10s));
    // The locks probe's round lands on its own (a few ms after activity's
    // when they share a batch): wait for it rather than read it at once.
    CHECK(wait_until(
        [&] {
          return metric_at_least(daemon, "pg_locks_count",
                                 {{"datname", "app"}, {"mode", "accessexclusivelock"}}, 1) &&
                 metric_at_least(daemon, "pg_locks_count",
                                 {{"datname", "app"}, {"mode", "accesssharelock"}}, 1);
        },
        5s));
    // busy and waiter are active; holder is idle in transaction (in_transaction committed).
    CHECK(metric_is(daemon, "pg_stat_activity_count", app_active, 2));
    CHECK(metric_is(daemon, "pg_stat_activity_count", app_idle_tx, 1));
    CHECK(metric_is(daemon, "pg_stat_activity_count", app_idle, 2));
    REQUIRE(wait_until(
        [&] {
          return metric_at_least(daemon, "pg_stat_activity_longest_lock_wait_seconds", {}, 2.0);
        },
        10s));
    CHECK(value_of(daemon, "pg_stat_activity_longest_lock_wait_seconds", {}) <=
          seconds_since(waiting_since) + 0.5);

    holder.query("COMMIT");
    CHECK(wait_until(
        [&] {
          return metric_is(daemon, "pg_stat_activity_waiting_on_lock", {}, 0) &&
                 metric_is(daemon, "pg_stat_activity_blocked_sessions", {}, 0) &&
                 metric_is(daemon, "pg_stat_activity_longest_lock_wait_seconds", {}, 0) &&
                 metric_is(daemon, "pg_locks_count",
                           {{"datname", "app"}, {"mode", "accessexclusivelock"}}, 0);
        },
        5s));
  }

  admin.query("SELECT pg_cancel_backend(" + pid_of(busy) + ")");
}

TEST_CASE("connections: filled to 80 % of a small max_connections") {
  PgClusterOptions options;
  options.settings = {"max_connections=12", "superuser_reserved_connections=2"};
  PgCluster cluster(options);
  const int port = cluster.primary_port();
  auto spec = monitor_target(cluster);
  spec.disabled = {"vacuum", "indexes"};  // their short-lived sessions would move the count
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_connections_utilization_ratio", {{"target", "db"}}).has_value();
      },
      10s));
  CHECK(value_of(daemon, "pg_settings_max_connections", {}) == 12.0);
  CHECK(value_of(daemon, "pg_settings_superuser_reserved_connections", {}) == 2.0);
  CHECK(value_of(daemon, "pg_connections_utilization_ratio", {}) < 0.8);

  // 10 usable slots; the daemon holds one. Seven more make 8 of 10.
  std::vector<std::unique_ptr<TestConnection>> sessions;
  for (int i = 0; i < 7; ++i)
    sessions.push_back(std::make_unique<TestConnection>(cluster.conninfo(port)));
  REQUIRE(wait_until(
      [&] { return metric_at_least(daemon, "pg_connections_utilization_ratio", {}, 0.8); }, 10s));
  const double used = value_of(daemon, "pg_stat_activity_client_connections", {});
  const double ratio = value_of(daemon, "pg_connections_utilization_ratio", {});
  std::cout << "connections: " << used << " client backends, utilisation " << ratio << "\n";
  CHECK(used >= 8.0);
  CHECK(ratio == doctest::Approx(used / 10.0));

  sessions.resize(2);
  CHECK(wait_until(
      [&] {
        auto value = daemon.metric("pg_connections_utilization_ratio", {{"target", "db"}});
        return value && *value < 0.8;
      },
      10s));
}

TEST_CASE("bgwriter: a requested CHECKPOINT shows in postgres_exporter's counters") {
  PgCluster cluster;
  auto spec = monitor_target(cluster);
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_stat_bgwriter_checkpoints_req_total", {{"target", "db"}})
            .has_value();
      },
      10s));
  const double requested = value_of(daemon, "pg_stat_bgwriter_checkpoints_req_total", {});
  const double written = value_of(daemon, "pg_stat_bgwriter_buffers_checkpoint_total", {});
  CHECK(value_of(daemon, "pgvigil_probe_permission_denied", {{"probe", "bgwriter"}}) == 0);
  CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "bgwriter"}}) == 0);

  // 17 moved the checkpoint counters to pg_stat_checkpointer, with restartpoints,
  // and dropped the backend counters.
  const bool checkpointer = cluster.major() >= 17;
  CAPTURE(cluster.major());
  const std::string text = daemon.metrics();
  for (const char* name : {"pg_stat_checkpointer_restartpoints_timed_total",
                           "pg_stat_checkpointer_restartpoints_req_total",
                           "pg_stat_checkpointer_restartpoints_done_total",
                           "pg_stat_checkpointer_stats_reset_total"}) {
    CAPTURE(name);
    CHECK(pgvigil::test::metric_series(text, name, {{"target", "db"}}) == (checkpointer ? 1 : 0));
  }
  if (checkpointer)  // a primary performs checkpoints, never restartpoints
    CHECK(value_of(daemon, "pg_stat_checkpointer_restartpoints_done_total", {}) == 0);
  for (const char* name :
       {"pg_stat_bgwriter_buffers_backend_total", "pg_stat_bgwriter_buffers_backend_fsync_total"}) {
    CAPTURE(name);
    CHECK(pgvigil::test::metric_series(text, name, {{"target", "db"}}) == (checkpointer ? 0 : 1));
  }

  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE TABLE bgwriter_fill AS SELECT g FROM generate_series(1, 20000) g");
  admin.query("CHECKPOINT");
  CHECK(wait_until(
      [&] {
        return metric_at_least(daemon, "pg_stat_bgwriter_checkpoints_req_total", {}, requested + 1);
      },
      10s));
  CHECK(value_of(daemon, "pg_stat_bgwriter_buffers_checkpoint_total", {}) > written);
  // The background writer reports its allocation count every cycle, so on a
  // fresh server it may still be 0 at the first round; after the fill it rises.
  CHECK(wait_until(
      [&] { return metric_at_least(daemon, "pg_stat_bgwriter_buffers_alloc_total", {}, 1); }, 10s));
}

TEST_CASE("wal: writes move the position and pg_stat_wal, timeline and pg_wal's segments") {
  PgCluster cluster;
  auto spec = monitor_target(cluster);
  spec.disabled = {"vacuum", "statements"};
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);
  CAPTURE(cluster.major());
  const bool has_stat_wal = cluster.major() >= 14;
  const bool has_wal_write = has_stat_wal && cluster.major() < 18;
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_wal_current_lsn_bytes", {{"target", "db"}}).has_value() &&
               daemon.metric("pg_wal_segments", {{"target", "db"}}).has_value();
      },
      10s));
  const std::string text = daemon.metrics();
  CHECK(value_of(daemon, "pg_control_checkpoint_timeline_id", {}) == 1);
  const double segments = value_of(daemon, "pg_wal_segments", {});
  CHECK(segments >= 1);
  CHECK(value_of(daemon, "pg_wal_size_bytes", {}) == segments * 16 * 1024 * 1024);
  for (const char* name :
       {"pg_stat_wal_wal_records", "pg_stat_wal_wal_fpi", "pg_stat_wal_wal_bytes",
        "pg_stat_wal_wal_buffers_full", "pg_stat_wal_stats_reset"}) {
    CAPTURE(name);
    CHECK(pgvigil::test::metric_series(text, name, {{"target", "db"}}) == (has_stat_wal ? 1 : 0));
  }
  for (const char* name : {"pg_stat_wal_wal_write", "pg_stat_wal_wal_sync",
                           "pg_stat_wal_wal_write_time", "pg_stat_wal_wal_sync_time"}) {
    CAPTURE(name);
    CHECK(pgvigil::test::metric_series(text, name, {{"target", "db"}}) == (has_wal_write ? 1 : 0));
  }
  CHECK(value_of(daemon, "pgvigil_probe_permission_denied", {{"probe", "wal"}}) == 0);

  const double position = value_of(daemon, "pg_wal_current_lsn_bytes", {});
  const double generated = value_of(daemon, "pg_stat_wal_wal_bytes", {});  // -1 before 14
  const double records = value_of(daemon, "pg_stat_wal_wal_records", {});
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query(
      "CREATE TABLE wal_fill AS SELECT g, repeat('x', 100) AS pad "
      "FROM generate_series(1, 20000) g");
  admin.flush_statistics();
  constexpr double kAtLeast = 2e6;  // 20000 rows of ~130 bytes
  CHECK(wait_until(
      [&] { return metric_at_least(daemon, "pg_wal_current_lsn_bytes", {}, position + kAtLeast); },
      10s));
  if (has_stat_wal) {
    CHECK(wait_until(
        [&] {
          return metric_at_least(daemon, "pg_stat_wal_wal_bytes", {}, generated + kAtLeast) &&
                 metric_at_least(daemon, "pg_stat_wal_wal_records", {}, records + 20000);
        },
        10s));
  }
  // A segment switch and a write into the next segment: that file exists
  // beside the old one, which stays until a checkpoint.
  admin.query("SELECT pg_switch_wal()");
  admin.query("CREATE TABLE wal_after_switch (id int)");
  CHECK(wait_until([&] { return metric_at_least(daemon, "pg_wal_segments", {}, 2); }, 10s));
  CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "wal"}}) == 0);
}

TEST_CASE("wait events: a lock wait and two sleeps, top 1 with the rest under other") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE TABLE contended (id int)");
  auto spec = monitor_target(cluster);
  spec.disabled = {"vacuum", "statements"};
  std::string toml = target_toml(spec);
  const std::string table = "[target.probes.wait_events]\ninterval = \"1s\"\n";
  const auto at = toml.find(table);
  REQUIRE(at != std::string::npos);
  toml.insert(at + table.size(), "top_n = 1\n");
  DaemonProcess daemon(config_with(toml));
  wait_up(daemon);

  const MetricLabels other{{"wait_event_type", "other"}, {"wait_event", "other"}};
  const MetricLabels lock{{"wait_event_type", "Lock"}, {"wait_event", "relation"}};
  const MetricLabels sleep{{"wait_event_type", "Timeout"}, {"wait_event", "PgSleep"}};
  auto series = [&] {
    return pgvigil::test::metric_series(daemon.metrics(), "pgvigil_wait_event_sessions",
                                        {{"target", "db"}});
  };
  // Nothing waits yet (the daemon's own sessions are left out): other at 0.
  REQUIRE(
      wait_until([&] { return metric_is(daemon, "pgvigil_wait_event_sessions", other, 0); }, 10s));

  TestConnection holder(cluster.conninfo(port));
  TestConnection waiter(cluster.conninfo(port));
  TestConnection sleeper1(cluster.conninfo(port));
  TestConnection sleeper2(cluster.conninfo(port));
  holder.query("BEGIN");
  holder.query("LOCK TABLE contended IN ACCESS EXCLUSIVE MODE");
  waiter.send("SELECT count(*) FROM contended");
  sleeper1.send("SELECT pg_sleep(60)");
  sleeper2.send("SELECT pg_sleep(60)");
  // Top 1 is the two sleeps; the lock wait goes to other.
  REQUIRE(wait_until(
      [&] {
        return metric_is(daemon, "pgvigil_wait_event_sessions", sleep, 2) &&
               metric_is(daemon, "pgvigil_wait_event_sessions", other, 1);
      },
      10s));
  CHECK_FALSE(daemon.metric("pgvigil_wait_event_sessions", with_target(lock)).has_value());
  CHECK(series() == 2);

  admin.query("SELECT pg_cancel_backend(" + pid_of(sleeper1) + "), pg_cancel_backend(" +
              pid_of(sleeper2) + ")");
  // Now the lock wait is the top pair.
  REQUIRE(wait_until(
      [&] {
        return metric_is(daemon, "pgvigil_wait_event_sessions", lock, 1) &&
               metric_is(daemon, "pgvigil_wait_event_sessions", other, 0) &&
               !daemon.metric("pgvigil_wait_event_sessions", with_target(sleep)).has_value();
      },
      10s));
  CHECK(series() == 2);

  holder.query("COMMIT");
  CHECK(wait_until(
      [&] {
        return !daemon.metric("pgvigil_wait_event_sessions", with_target(lock)).has_value() &&
               metric_is(daemon, "pgvigil_wait_event_sessions", other, 0);
      },
      10s));
  CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "wait_events"}}) == 0);
  CHECK(value_of(daemon, "pgvigil_probe_permission_denied", {{"probe", "wait_events"}}) == 0);
}

TEST_CASE("io: a bulk load and a CHECKPOINT move pg_stat_io's counters on 16+, none before") {
  PgCluster cluster;
  auto spec = monitor_target(cluster);
  spec.disabled = {"vacuum", "statements"};
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);
  CAPTURE(cluster.major());
  const MetricLabels client{
      {"backend_type", "client backend"}, {"object", "relation"}, {"context", "normal"}};
  const MetricLabels checkpointer{
      {"backend_type", "checkpointer"}, {"object", "relation"}, {"context", "normal"}};
  if (cluster.major() < 16) {
    // No view, no statement: no series and no failure, while other probes run.
    REQUIRE(wait_until(
        [&] {
          return daemon.metric("pgvigil_probe_runs_total", {{"target", "db"}, {"probe", "io"}})
                     .value_or(0) >= 2;
        },
        10s));
    const std::string text = daemon.metrics();
    for (const char* name : {"pg_stat_io_reads_total", "pg_stat_io_hits_total",
                             "pg_stat_io_writes_total", "pg_stat_io_extends_total"})
      CHECK_MESSAGE(pgvigil::test::metric_series(text, name) == 0, name);
    CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "io"}}) == 0);
    return;
  }
  REQUIRE(wait_until(
      [&] { return daemon.metric("pg_stat_io_hits_total", with_target(client)).has_value(); },
      10s));
  const double extends = std::max(0.0, value_of(daemon, "pg_stat_io_extends_total", client));
  const double extend_bytes =
      std::max(0.0, value_of(daemon, "pg_stat_io_extend_bytes_total", client));
  const double written = std::max(0.0, value_of(daemon, "pg_stat_io_writes_total", checkpointer));

  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  // About 2.5 MB: some 300 new blocks, written out by the CHECKPOINT.
  // (CREATE TABLE AS would extend through a bulkwrite ring, another context.)
  admin.query("CREATE TABLE io_fill (g int, pad text)");
  admin.query("INSERT INTO io_fill SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g");
  admin.query("CHECKPOINT");
  const auto show = [&] {
    std::string lines;
    std::istringstream in(daemon.metrics());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("pg_stat_io_extends_total{", 0) == 0 ||
          line.rfind("pg_stat_io_writes_total{", 0) == 0)
        lines += line + "\n";
    return lines;
  };
  INFO("before: extends " << extends << ", extend bytes " << extend_bytes
                          << ", checkpointer writes " << written << "\nnow:\n"
                          << show());
  CHECK(wait_until(
      [&] {
        return metric_at_least(daemon, "pg_stat_io_extends_total", client, extends + 200) &&
               metric_at_least(daemon, "pg_stat_io_extend_bytes_total", client,
                               extend_bytes + 200 * 8192.0) &&
               metric_at_least(daemon, "pg_stat_io_writes_total", checkpointer, written + 200);
      },
      15s));
  const std::string text = daemon.metrics();
  const auto series = pgvigil::test::metric_series(text, "pg_stat_io_hits_total");
  std::cout << "pg_stat_io on " << cluster.major() << ": " << series
            << " pg_stat_io_hits_total series, "
            << pgvigil::test::metric_series(text, "pg_stat_io_reads_total") +
                   pgvigil::test::metric_series(text, "pg_stat_io_writes_total")
            << " pg_stat_io_reads_total + pg_stat_io_writes_total series\n";
  // Bounded by the view's fixed rows (16: 30, 18: 79), all-zero rows left out.
  CHECK(series < (cluster.major() >= 18 ? 79u : 30u));
  CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "io"}}) == 0);
  CHECK(value_of(daemon, "pgvigil_probe_permission_denied", {{"probe", "io"}}) == 0);
}

TEST_CASE("databases: a database created then dropped, an expected one missing") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  auto spec = monitor_target(cluster);
  spec.extra = "expected_databases = [\"postgres\", \"shortlived\"]\n";
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  const MetricLabels postgres_db{{"datname", "postgres"}};
  const MetricLabels shortlived{{"datname", "shortlived"}};
  REQUIRE(wait_until([&] { return metric_is(daemon, "pg_database_exists", shortlived, 0); }, 10s));
  CHECK(metric_is(daemon, "pg_database_exists", postgres_db, 1));
  CHECK(metric_at_least(daemon, "pg_database_size_bytes", postgres_db, 1e6));
  // 13 and 14 publish statistics through a collector, up to half a second late.
  CHECK(wait_until(
      [&] { return metric_at_least(daemon, "pg_stat_database_xact_commit", postgres_db, 1); }, 5s));
  CHECK(metric_at_least(daemon, "pg_database_wraparound_age_datfrozenxid_seconds", postgres_db, 1));
  CHECK(daemon.metric("pg_database_wraparound_fraction", with_target(postgres_db)).has_value());

  {  // postgres_exporter's other columns; the session times from 14
    CAPTURE(cluster.major());
    TestConnection reader(cluster.conninfo(port));
    reader.query("CREATE TABLE scanned AS SELECT generate_series(1, 5000) AS id");
    reader.query("CREATE INDEX ON scanned (id)");
    reader.query("SELECT count(*) FROM scanned");
    reader.query("SET enable_seqscan = off");
    reader.query("SELECT * FROM scanned WHERE id = 42");
    reader.flush_statistics();
    const double returned_before = value_of(daemon, "pg_stat_database_tup_returned", postgres_db);
    CHECK(wait_until(
        [&] {
          return metric_at_least(daemon, "pg_stat_database_tup_returned", postgres_db,
                                 std::max(returned_before, 0.0) + 5000) &&
                 metric_at_least(daemon, "pg_stat_database_tup_fetched", postgres_db, 1);
        },
        10s));
    const std::string text = daemon.metrics();
    for (const char* name : {"pg_stat_database_blk_read_time", "pg_stat_database_blk_write_time"})
      CHECK_MESSAGE(pgvigil::test::metric_series(text, name, with_target(postgres_db)) == 1, name);
    const bool session_times = cluster.major() >= 14;
    for (const char* name : {"pg_stat_database_active_time_seconds_total",
                             "pg_stat_database_session_time_seconds_total"})
      CHECK_MESSAGE(pgvigil::test::metric_series(text, name, with_target(postgres_db)) ==
                        (session_times ? 1u : 0u),
                    name);
    if (session_times)
      CHECK(wait_until(
          [&] {
            return metric_at_least(daemon, "pg_stat_database_active_time_seconds_total",
                                   postgres_db, 0.001);
          },
          10s));
    // A primary has no recovery conflicts to report.
    CHECK(pgvigil::test::metric_series(text, "pg_stat_database_conflicts_confl_lock") == 0);
    CHECK(value_of(daemon, "pg_settings_max_locks_per_transaction", {}) == 64);
    CHECK(value_of(daemon, "pgvigil_probe_failures_total", {{"probe", "databases"}}) == 0);
  }

  admin.query("CREATE DATABASE shortlived");
  {
    TestConnection user(cluster.conninfo(port, "shortlived"));
    user.query("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id");
  }
  REQUIRE(wait_until(
      [&] {
        return metric_is(daemon, "pg_database_exists", shortlived, 1) &&
               metric_at_least(daemon, "pg_database_size_bytes", shortlived, 1e6) &&
               metric_at_least(daemon, "pg_stat_database_xact_commit", shortlived, 1) &&
               daemon
                   .metric("pg_stat_user_tables_n_live_tup",
                           with_target({{"datname", "shortlived"}, {"relname", "t"}}))
                   .has_value();
      },
      10s));

  admin.query("DROP DATABASE shortlived WITH (FORCE)");
  const auto dropped = Clock::now();
  auto gone = wait_until(
      [&] {
        const auto text = daemon.metrics();
        return pgvigil::test::metric_series(text, "pg_database_size_bytes", shortlived) == 0 &&
               pgvigil::test::metric_series(text, "pg_stat_database_xact_commit", shortlived) ==
                   0 &&
               pgvigil::test::metric_series(text, "pg_stat_database_numbackends", shortlived) ==
                   0 &&
               pgvigil::test::metric_series(text, "pg_database_wraparound_fraction", shortlived) ==
                   0 &&
               pgvigil::test::metric_series(text, "pg_stat_user_tables_n_live_tup", shortlived) ==
                   0 &&
               pgvigil::test::metric_value(text, "pg_database_exists", with_target(shortlived)) ==
                   0.0;
      },
      10s, 20ms);
  REQUIRE(gone);
  std::cout << "dropped database's series gone after " << gone->count() << " ms\n";
  // One round of 1 s, plus the round that may have been in flight.
  CHECK(seconds_since(dropped) < 2.5);
  CHECK(metric_is(daemon, "pg_database_exists", postgres_db, 1));
}

TEST_CASE("database walks: the target's own database is read on its monitoring connection") {
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE DATABASE app");
  {
    TestConnection app(cluster.conninfo(cluster.primary_port(), "app"));
    app.query("CREATE TABLE orders (id int PRIMARY KEY)");
    app.query("GRANT SELECT ON orders TO pgvigil_monitor");
  }
  const auto attempts_after_walks = [&](const std::string& include) {
    auto spec = monitor_target(cluster);
    spec.dbname = "app";
    std::string toml = target_toml(spec);
    for (const std::string probe : {"vacuum", "indexes"}) {
      const std::string table = "[target.probes." + probe + "]\ninterval = \"1s\"\n";
      REQUIRE(toml.find(table) != std::string::npos);
      toml.replace(toml.find(table), table.size(), table + "include_databases = " + include + "\n");
    }
    DaemonProcess daemon(config_with(toml));
    wait_up(daemon);
    for (const std::string probe : {"vacuum", "indexes"})
      REQUIRE(wait_until(
          [&] {
            return daemon.metric("pgvigil_probe_runs_total", {{"target", "db"}, {"probe", probe}})
                       .value_or(0) >= 3;
          },
          15s));
    CHECK(daemon
              .metric("pg_stat_user_tables_n_live_tup",
                      {{"target", "db"}, {"datname", "app"}, {"relname", "orders"}})
              .has_value());
    return daemon.metric("pgvigil_connection_attempts_total").value_or(-1);
  };
  // Three rounds of two walks over the target's own database: the one
  // connection of the session, no backend started per round.
  CHECK(attempts_after_walks("[\"app\"]") == 1);
  // With another database in the walk, every round connects to it.
  CHECK(attempts_after_walks("[\"app\", \"postgres\"]") >= 1 + 2 * 3);
}

TEST_CASE("database patterns: a server-wide probe keeps only the datname series they select") {
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  admin.query("CREATE DATABASE team_a");
  admin.query("CREATE DATABASE team_b");
  std::string toml = target_toml(monitor_target(cluster));
  const std::string databases = "[target.probes.databases]\ninterval = \"1s\"\n";
  REQUIRE(toml.find(databases) != std::string::npos);
  toml.replace(toml.find(databases), databases.size(),
               databases +
                   "include_databases = [\"team_*\", \"postgres\"]\n"
                   "exclude_databases = [\"team_b\"]\n");
  DaemonProcess daemon(config_with(toml));
  wait_up(daemon);
  const MetricLabels team_a{{"datname", "team_a"}};
  REQUIRE(wait_until([&] { return metric_at_least(daemon, "pg_database_size_bytes", team_a, 1); },
                     10s));
  const std::string text = daemon.metrics();
  using pgvigil::test::metric_series;
  CHECK(metric_series(text, "pg_database_size_bytes", with_target({{"datname", "postgres"}})) == 1);
  CHECK(metric_series(text, "pg_database_size_bytes", with_target({{"datname", "team_b"}})) == 0);
  CHECK(metric_series(text, "pg_database_size_bytes", with_target({{"datname", "template1"}})) ==
        0);
  CHECK(metric_series(text, "pg_stat_database_xact_commit", with_target({{"datname", "team_b"}})) ==
        0);
  // Series without a datname stay (the settings probe's first round may land
  // after the databases probe's).
  CHECK(wait_until(
      [&] { return metric_series(daemon.metrics(), "pg_settings_max_locks_per_transaction") == 1; },
      10s));
}

TEST_CASE("database patterns: PostgreSQL's LIKE keeps every name the glob keeps") {
  // The prefilter pushed into server-wide SQL, evaluated by a real server:
  // never narrower than fnmatch, and exact where the globs have no brackets.
  PgCluster cluster;
  TestConnection admin(cluster.conninfo(cluster.primary_port()));
  const std::vector<std::string> names{"team_a", "teamXa",   "team_b",    "app1",   "app3",
                                       "50%off", "50x",      "o'brien",   R"(b\s)", "a*b",
                                       "aXb",    "postgres", "template1", "t0_1",   "t0x1"};
  std::string array = "ARRAY[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string quoted;
    for (char c : names[i]) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    array += (i ? ", '" : "'") + quoted + "'";
  }
  array += "]::text[]";
  struct Case {
    std::vector<std::string> include, exclude;
    bool exact;
  };
  const std::vector<Case> cases{
      {{"team_*"}, {}, true},      {{"t0_*", "postgres"}, {}, true},
      {{"50%*"}, {}, true},        {{"o'brien", R"(b\\s)"}, {}, true},
      {{R"(a\*b)"}, {}, true},     {{"app[12]"}, {}, false},
      {{}, {"template*"}, true},   {{"team_*"}, {"team_b"}, true},
      {{"*"}, {"app[!1]"}, false}, {{"?????"}, {}, true},
  };
  for (const auto& c : cases) {
    const pgvigil::DatabasePatterns patterns{c.include, c.exclude};
    const auto rows =
        admin.query("SELECT d.datname FROM unnest(" + array + ") AS d(datname) WHERE " +
                    pgvigil::datname_prefilter(patterns, "d.datname"));
    std::set<std::string> from_server;
    for (const auto& row : rows) from_server.insert(row.at(0).value_or(""));
    std::set<std::string> from_glob;
    for (const auto& name : names)
      if (pgvigil::database_selected(patterns, name)) from_glob.insert(name);
    CAPTURE(pgvigil::datname_prefilter(patterns, "d.datname"));
    CHECK(
        std::includes(from_server.begin(), from_server.end(), from_glob.begin(), from_glob.end()));
    if (c.exact) CHECK(from_server == from_glob);
  }
}

TEST_CASE("vacuum: dead tuples after updates on a table with autovacuum off") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE DATABASE app");
  TestConnection app(cluster.conninfo(port, "app"));
  app.query("CREATE TABLE orders (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false)");
  app.query("INSERT INTO orders SELECT g, 0 FROM generate_series(1, 1000) AS g");
  app.flush_statistics();
  auto spec = monitor_target(cluster);
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  const MetricLabels orders{{"datname", "app"}, {"schemaname", "public"}, {"relname", "orders"}};
  REQUIRE(wait_until(
      [&] { return metric_is(daemon, "pg_stat_user_tables_n_live_tup", orders, 1000); }, 15s));
  CHECK(metric_is(daemon, "pg_stat_user_tables_n_dead_tup", orders, 0));
  CHECK(metric_is(daemon, "pg_table_autovacuum_enabled", orders, 0));

  app.query("UPDATE orders SET v = v + 1");
  app.flush_statistics();
  REQUIRE(wait_until(
      [&] { return metric_at_least(daemon, "pg_stat_user_tables_n_dead_tup", orders, 1000); },
      15s));
  CHECK(value_of(daemon, "pg_stat_user_tables_dead_tuple_ratio", orders) ==
        doctest::Approx(0.5).epsilon(0.05));
  CHECK_FALSE(daemon.metric("pg_stat_user_tables_last_vacuum", with_target(orders)).has_value());

  app.query("VACUUM orders");
  app.flush_statistics();
  CHECK(wait_until(
      [&] {
        return metric_is(daemon, "pg_stat_user_tables_n_dead_tup", orders, 0) &&
               metric_is(daemon, "pg_stat_user_tables_vacuum_count", orders, 1) &&
               metric_at_least(daemon, "pg_stat_user_tables_last_vacuum", orders, 1.6e9);
      },
      15s));
  // Tables in the database the daemon itself connects to are visited too.
  admin.query("CREATE TABLE in_postgres (id int)");
  admin.query("INSERT INTO in_postgres VALUES (1), (2)");
  admin.flush_statistics();
  CHECK(wait_until(
      [&] {
        return metric_is(daemon, "pg_stat_user_tables_n_live_tup",
                         {{"datname", "postgres"}, {"relname", "in_postgres"}}, 2);
      },
      15s));
}

TEST_CASE("indexes: unused indexes, index use, and table and index bloat after a mass delete") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE DATABASE app");
  TestConnection app(cluster.conninfo(port, "app"));
  app.query("CREATE TABLE churn (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false)");
  app.query("INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, 100000) AS g");
  app.query("CREATE INDEX churn_note ON churn (note)");
  app.query(
      "CREATE TABLE hidden (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false)");
  app.query("INSERT INTO hidden SELECT g, md5(g::text) FROM generate_series(1, 20000) AS g");
  app.query("ANALYZE");
  // pg_stats shows a column only to a role that may read it: the monitoring
  // role gets churn, not hidden.
  app.query("GRANT SELECT ON churn TO pgvigil_monitor");
  app.flush_statistics();
  auto spec = monitor_target(cluster);
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  const MetricLabels churn{{"datname", "app"}, {"schemaname", "public"}, {"relname", "churn"}};
  auto index = [&](const std::string& name) {
    MetricLabels labels = churn;
    labels.emplace("indexrelname", name);
    return labels;
  };
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("pg_index_unused_size_bytes", with_target(index("churn_note")))
            .has_value();
      },
      15s));
  CHECK(metric_at_least(daemon, "pg_index_size", index("churn_pkey"), 1e6));
  // A primary key enforces a constraint: it is never reported as unused.
  CHECK_FALSE(daemon.metric("pg_index_unused_size_bytes", with_target(index("churn_pkey"))));
  // Freshly loaded and analyzed: little or no bloat.
  CHECK(value_of(daemon, "pg_table_bloat_ratio", churn) < 0.1);
  CHECK(value_of(daemon, "pg_index_bloat_ratio", index("churn_pkey")) < 0.1);
  CHECK(value_of(daemon, "pgvigil_bloat_unestimated_relations",
                 {{"datname", "app"}, {"kind", "table"}}) == 1.0);  // hidden
  CHECK_FALSE(daemon.metric("pg_table_bloat_ratio",
                            with_target({{"datname", "app"}, {"relname", "hidden"}})));
  const bool has_last_scan = cluster.major() >= 16;
  CHECK(daemon.metric("pg_stat_user_indexes_last_idx_scan_time", with_target(index("churn_pkey")))
            .has_value() == false);  // never scanned: NULL on 16+, no column before

  // Four rows in five deleted and vacuumed: the files keep their size, the
  // rows would fill a fifth of it.
  app.query("DELETE FROM churn WHERE id % 5 <> 0");
  app.query("VACUUM ANALYZE churn");
  // An index scan takes churn_note off the unused list.
  app.query("SET enable_seqscan = off");
  app.query("SELECT count(*) FROM churn WHERE note = md5('5')");
  app.flush_statistics();
  CHECK(wait_until(
      [&] {
        return value_of(daemon, "pg_table_bloat_ratio", churn) > 0.7 &&
               value_of(daemon, "pg_index_bloat_ratio", index("churn_pkey")) > 0.7 &&
               metric_at_least(daemon, "pg_stat_user_indexes_idx_scan_total", index("churn_note"),
                               1) &&
               !daemon.metric("pg_index_unused_size_bytes", with_target(index("churn_note")))
                    .has_value();
      },
      15s));
  std::cout << "bloat after deleting 80 %: table "
            << value_of(daemon, "pg_table_bloat_ratio", churn) << ", primary key "
            << value_of(daemon, "pg_index_bloat_ratio", index("churn_pkey")) << "\n";
  CHECK(value_of(daemon, "pg_table_bloat_ratio", churn) < 0.9);
  CHECK(metric_at_least(daemon, "pg_table_bloat_bytes", churn, 4e6));
  CHECK(daemon.metric("pg_stat_user_indexes_last_idx_scan_time", with_target(index("churn_note")))
            .has_value() == has_last_scan);
  CHECK(metric_is(daemon, "pgvigil_probe_permission_denied",
                  {{"probe", "indexes"}, {"datname", "app"}}, 0));
}

TEST_CASE(
    "statements and custom checks: pg_stat_statements entries, a check passing then failing") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE DATABASE app");
  TestConnection app(cluster.conninfo(port, "app"));
  app.query("CREATE TABLE \"User\" (id int)");
  app.query("INSERT INTO \"User\" VALUES (1), (2), (3)");
  app.query("GRANT SELECT, INSERT ON \"User\" TO pgvigil_monitor");
  admin.query("SELECT pg_stat_statements_reset()");
  for (int i = 0; i < 5; ++i) app.query("SELECT pg_sleep(0.05) AS pgvigil_marker");

  auto spec = monitor_target(cluster);
  spec.after =
      "[[target.check]]\nname = \"users_present\"\ndatabase = \"app\"\nsql = 'SELECT count(*) "
      "FROM \"User\"'\nexpect = \"> 0\"\ninterval = \"1s\"\n"
      // A check that tries to write: the read-only transaction must stop it.
      "[[target.check]]\nname = \"writer\"\ndatabase = \"app\"\nsql = 'WITH w AS (INSERT INTO "
      "\"User\" VALUES (99) RETURNING 1) SELECT count(*) FROM w'\nexpect = \"> 0\"\ninterval = "
      "\"1s\"\n";
  DaemonProcess daemon(config_with(target_toml(spec)));
  wait_up(daemon);

  {  // pg_stat_statements entries
    const auto rows = admin.query(
        "SELECT queryid::text, calls::text FROM pg_stat_statements "
        "WHERE query LIKE '%pgvigil_marker%' AND query NOT LIKE '%pg_stat_statements%'");
    REQUIRE(rows.size() == 1);
    const std::string queryid = *rows[0][0];
    CHECK(*rows[0][1] == "5");
    const MetricLabels marker{{"queryid", queryid}, {"datname", "app"}, {"user", "postgres"}};
    REQUIRE(wait_until(
        [&] { return metric_is(daemon, "pg_stat_statements_calls_total", marker, 5); }, 10s));
    CHECK(metric_at_least(daemon, "pg_stat_statements_mean_seconds", marker, 0.05));
    CHECK(metric_at_least(daemon, "pg_stat_statements_seconds_total", marker, 0.25));
    CHECK(metric_is(daemon, "pg_stat_statements_rows_total", marker, 5));
    for (int i = 0; i < 3; ++i) app.query("SELECT pg_sleep(0.05) AS pgvigil_marker");
    CHECK(wait_until([&] { return metric_is(daemon, "pg_stat_statements_calls_total", marker, 8); },
                     10s));
    // Bounded: top 10 by total plus top 10 by mean, at most.
    CHECK(pgvigil::test::metric_series(daemon.metrics(), "pg_stat_statements_calls_total") <= 20);
    CHECK(daemon.metrics().find("pgvigil_marker") == std::string::npos);  // no text in labels
  }

  {  // a custom check passing, then failing after TRUNCATE
    const MetricLabels users{{"check", "users_present"}};
    REQUIRE(wait_until([&] { return metric_is(daemon, "pgvigil_check_ok", users, 1); }, 10s));
    CHECK(metric_is(daemon, "pgvigil_check_value", users, 3));
    CHECK(metric_is(daemon, "pgvigil_check_error", users, 0));
    app.query("TRUNCATE \"User\"");
    CHECK(wait_until(
        [&] {
          return metric_is(daemon, "pgvigil_check_ok", users, 0) &&
                 metric_is(daemon, "pgvigil_check_value", users, 0);
        },
        10s));
    CHECK(metric_is(daemon, "pgvigil_check_error", users, 0));
    app.query("INSERT INTO \"User\" VALUES (7)");
    CHECK(wait_until([&] { return metric_is(daemon, "pgvigil_check_ok", users, 1); }, 10s));
  }

  {  // a check runs read-only
    const MetricLabels writer{{"check", "writer"}};
    REQUIRE(wait_until([&] { return metric_is(daemon, "pgvigil_check_error", writer, 1); }, 10s));
    CHECK(metric_is(daemon, "pgvigil_check_ok", writer, 0));
    CHECK(metric_is(daemon, "pgvigil_probe_permission_denied",
                    {{"probe", "check"}, {"check", "writer"}}, 0));
    CHECK(app.query("SELECT count(*) FROM \"User\" WHERE id = 99")[0][0] == "0");
  }
}

TEST_CASE("least privilege: a pg_monitor-only role gets the same metric names as a superuser") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  // Give every probe something to report: a table with autovacuum off, an
  // inactive slot, statements.
  admin.query("CREATE TABLE quiet (id int) WITH (autovacuum_enabled = false)");
  admin.query("INSERT INTO quiet VALUES (1)");
  admin.query("SELECT pg_create_physical_replication_slot('idle', true)");

  TargetSpec monitor = monitor_target(cluster);
  monitor.name = "monitor";
  monitor.extra = "expected_databases = [\"postgres\"]\n";
  TargetSpec super = monitor;
  super.name = "super";
  super.user = "postgres";
  super.password_file = cluster.password_file();
  DaemonProcess daemon(config_with(target_toml(monitor) + target_toml(super)));
  wait_up(daemon, "monitor");
  wait_up(daemon, "super");

  // One sample per probe, on both targets, before comparing.
  const std::vector<std::string> one_per_probe{"pg_stat_activity_count",
                                               "pg_connections_utilization_ratio",
                                               "pg_settings_max_wal_size_bytes",
                                               "pg_locks_count",
                                               "pg_database_size_bytes",
                                               "pg_stat_user_tables_n_dead_tup",
                                               "pg_table_autovacuum_enabled",
                                               "pg_stat_statements_calls_total",
                                               "pg_replication_slots_pg_wal_lsn_diff",
                                               "pg_stat_archiver_archived_count",
                                               "pg_stat_replication_replicas",
                                               "pg_stat_bgwriter_buffers_alloc_total",
                                               "pg_wal_segments",
                                               "pgvigil_wait_event_sessions"};
  std::string text;
  REQUIRE(wait_until(
      [&] {
        text = daemon.metrics();
        for (const auto& name : one_per_probe)
          for (const char* target : {"monitor", "super"})
            if (pgvigil::test::metric_series(text, name, {{"target", target}}) == 0) return false;
        return true;
      },
      20s, 200ms));
  // Some series need a second round (pg_stat_statements_recent_calls is a
  // difference between rounds), which the two targets reach at their own
  // moments: compare once both have had the time for it (bounded).
  auto monitor_names = metric_names(text, "monitor");
  auto super_names = metric_names(text, "super");
  wait_until(
      [&] {
        text = daemon.metrics();
        monitor_names = metric_names(text, "monitor");
        super_names = metric_names(text, "super");
        return monitor_names == super_names;
      },
      5s, 200ms);
  std::vector<std::string> only_super;
  std::vector<std::string> only_monitor;
  std::set_difference(super_names.begin(), super_names.end(), monitor_names.begin(),
                      monitor_names.end(), std::back_inserter(only_super));
  std::set_difference(monitor_names.begin(), monitor_names.end(), super_names.begin(),
                      super_names.end(), std::back_inserter(only_monitor));
  std::cout << "metric names: " << monitor_names.size() << " as pgvigil_monitor, "
            << super_names.size() << " as postgres\n";
  for (const auto& name : only_super) std::cout << "  only as superuser: " << name << "\n";
  for (const auto& name : only_monitor) std::cout << "  only as pg_monitor: " << name << "\n";
  CHECK(only_super.empty());
  CHECK(only_monitor.empty());
  CHECK(monitor_names.size() > 50);
  // No probe lacked a privilege.
  CHECK(pgvigil::test::metric_series(text, "pgvigil_probe_permission_denied",
                                     {{"target", "monitor"}}) > 0);
  for (std::string_view probe : kSqlProbes) {
    if (probe == "vacuum" || probe == "indexes") continue;  // labelled by database as well
    CAPTURE(probe);
    // pg_stat_io is 16+: before, the probe sends nothing and reports nothing.
    const bool sends_nothing = probe == "io" && cluster.major() < 16;
    CHECK(pgvigil::test::metric_value(text, "pgvigil_probe_permission_denied",
                                      {{"target", "monitor"}, {"probe", std::string(probe)}}) ==
          (sends_nothing ? std::nullopt : std::optional<double>(0.0)));
  }
  for (const char* probe : {"vacuum", "indexes"}) {
    CAPTURE(probe);
    CHECK(pgvigil::test::metric_value(
              text, "pgvigil_probe_permission_denied",
              {{"target", "monitor"}, {"probe", probe}, {"datname", "postgres"}}) == 0.0);
  }
}

TEST_CASE("start-up: rounds due before the first connection are not counted as failures") {
  // Issue 17: every SQL probe counted one failure at start, before the session
  // was up, so a failure-rate alert fired after each restart.
  PgCluster cluster;
  DaemonProcess daemon(config_with(target_toml(monitor_target(cluster))));
  REQUIRE(wait_until([&] { return pgvigil::test::http_get(daemon.port(), "/ready").status == 200; },
                     20s));
  const std::string text = daemon.metrics();
  REQUIRE(pgvigil::test::metric_series(text, "pgvigil_probe_runs_total", {{"target", "db"}}) > 5);
  for (const std::string probe :
       {"liveness", "connections", "activity", "settings", "locks", "databases", "vacuum",
        "indexes", "bgwriter", "wal", "wait_events", "io"}) {
    CAPTURE(probe);
    CHECK(pgvigil::test::metric_value(text, "pgvigil_probe_failures_total",
                                      {{"target", "db"}, {"probe", probe}}) == 0.0);
  }
}
