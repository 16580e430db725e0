// Issue 6: the host probes (disk and its forecast, backups, datadir, logs)
// against real PostgreSQL 15 servers, real files and a real full filesystem,
// read through the real daemon's /metrics.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

using Clock = std::chrono::steady_clock;
using MetricLabels = std::map<std::string, std::string>;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A directory removed with everything in it when the test ends, pass or fail.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) : path_(pgvigil::test::make_temp_dir(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One local target named "db" (loopback, so the daemon discovers the data
// directory from the server) plus the given [target.*] tables.
std::string daemon_config(const PgCluster& cluster, const std::string& target_tables,
                          const std::string& state_directory = "@STATE@") {
  return "state_directory = \"" + state_directory +
         "\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n[log]\n"
         "level = \"info\"\n[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\nport = " +
         std::to_string(cluster.primary_port()) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
         cluster.monitor_password_file() + "\"\n" + target_tables;
}

std::string probe_interval(const std::string& probe, const std::string& interval) {
  return "[target.probes." + probe + "]\ninterval = \"" + interval + "\"\n";
}

std::string log_table(const PgCluster& cluster) {
  return "[target.log]\npath = \"" + cluster.primary_log() + "\"\n";
}

// Sum over every series of `name` carrying all of `labels` (e.g. one class
// across severities); nullopt when there is no such series at all.
std::optional<double> metric_sum(const std::string& text, const std::string& name,
                                 const MetricLabels& labels) {
  std::optional<double> sum;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + "{") != 0) continue;
    auto close = line.rfind('}');
    if (close == std::string::npos) continue;
    auto label_text = line.substr(name.size(), close - name.size() + 1);
    bool all = true;
    for (const auto& [key, value] : labels) {
      auto wanted = key + "=\"" + value + "\"";
      all = all && (contains(label_text, "{" + wanted) || contains(label_text, "," + wanted));
    }
    if (!all) continue;
    try {
      sum = sum.value_or(0) + std::stod(line.substr(close + 1));
    } catch (const std::exception&) {
    }
  }
  return sum;
}

double log_class_count(const DaemonProcess& daemon, const std::string& klass) {
  return metric_sum(daemon.metrics(), "pg_log_messages_total", {{"class", klass}}).value_or(-1);
}

double missing_database_fatals(const DaemonProcess& daemon) {
  return daemon
      .metric("pg_log_messages_total",
              {{"target", "db"}, {"severity", "FATAL"}, {"class", "database_missing"}})
      .value_or(-1);
}

// Each attempt makes the server log exactly one
// `FATAL:  database "..." does not exist` line (class database_missing).
void connect_to_missing_databases(const PgCluster& cluster, int count, const std::string& tag) {
  for (int i = 0; i < count; ++i) {
    auto dbname = "missing_" + tag + "_" + std::to_string(i);
    try {
      TestConnection connection(cluster.conninfo(cluster.primary_port(), dbname));
      FAIL("connected to a database that does not exist: " << dbname);
    } catch (const std::runtime_error& e) {
      REQUIRE_MESSAGE(contains(e.what(), "does not exist"), e.what());
    }
  }
}

void set_mtime(const std::string& path, double unix_seconds) {
  timeval times[2];
  for (auto& t : times) {
    t.tv_sec = static_cast<time_t>(unix_seconds);
    t.tv_usec = 0;
  }
  REQUIRE(::utimes(path.c_str(), times) == 0);
}

}  // namespace

TEST_CASE("host disk: a tmpfs data directory filled until ENOSPC is forecast, seen and logged") {
  // initdb plus a started primary take ~39 MB here (16 MB of it the first WAL
  // segment); 96 MB leaves ~55 MB for the table and a second WAL segment.
  TmpfsMount tmpfs("size=96M");
  PgClusterOptions options;
  options.data_parent = tmpfs.path();
  // Keep pg_wal at two segments (the minimum), so the table takes the room.
  options.settings = {"min_wal_size=32MB", "max_wal_size=32MB"};
  PgCluster cluster(options);
  DaemonProcess daemon(daemon_config(
      cluster,
      probe_interval("disk", "500ms") + probe_interval("logs", "500ms") + log_table(cluster)));
  const MetricLabels data_fs{{"target", "db"}, {"role", "data"}, {"mountpoint", tmpfs.path()}};
  // The data directory came from the server and lies on our tmpfs; the log
  // (outside the tmpfs, so the server can still write it) is being followed.
  REQUIRE(wait_until([&] { return daemon.metric("pg_filesystem_used_ratio", data_fs).has_value(); },
                     15s));
  REQUIRE(wait_until([&] { return log_class_count(daemon, "disk_full") == 0; }, 10s));
  const double start_ratio = daemon.metric("pg_filesystem_used_ratio", data_fs).value_or(-1);
  CHECK(start_ratio > 0.2);
  CHECK(start_ratio < 0.6);
  CHECK(daemon.metric("pg_filesystem_size_bytes", data_fs) == 96.0 * 1024 * 1024);

  // Watches /metrics while the test fills the disk.
  struct Observed {
    std::mutex mutex;
    std::optional<Clock::time_point> forecast_seen;
    double first_forecast = 0;  // unix seconds
    double last_forecast = 0;
    std::optional<Clock::time_point> ratio_over_90_seen;
    double max_ratio = 0;
  } observed;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!stop) {
      auto text = daemon.metrics();
      auto forecast = pgvigil::test::metric_value(
          text, "pg_filesystem_predicted_full_timestamp_seconds", data_fs);
      auto ratio = pgvigil::test::metric_value(text, "pg_filesystem_used_ratio", data_fs);
      {
        std::lock_guard lock(observed.mutex);
        if (forecast) {
          if (!observed.forecast_seen) {
            observed.forecast_seen = Clock::now();
            observed.first_forecast = *forecast;
          }
          observed.last_forecast = *forecast;
        }
        if (ratio) {
          observed.max_ratio = std::max(observed.max_ratio, *ratio);
          if (*ratio > 0.9 && !observed.ratio_over_90_seen)
            observed.ratio_over_90_seen = Clock::now();
        }
      }
      std::this_thread::sleep_for(200ms);
    }
  });
  struct JoinWatcher {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinWatcher() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_watcher{stop, watcher};

  // Fill at a steady pace so that the space runs out ~80 s from now: the
  // forecast needs 5 samples over 60 s, and must come before the disk is full.
  TestConnection db(cluster.conninfo(cluster.primary_port()));
  const auto fill_start = Clock::now();
  const double fill_start_unix = unix_now();
  const auto fill = pgvigil::test::fill_until_full(db, tmpfs, 80s, 150s);
  const int inserts = fill.inserts;
  const std::string& fill_error = fill.error;
  const auto full_at = Clock::now();
  const double full_at_unix = unix_now();
  INFO("fill ended after " << inserts << " inserts: " << fill_error);
  REQUIRE_MESSAGE(!fill_error.empty(), "the disk never filled");
  CHECK((contains(fill_error, "No space left on device") ||
         contains(fill_error, "could not extend file")));

  // The server wrote the failure to its log: the logs probe classifies it.
  auto logged = wait_until([&] { return log_class_count(daemon, "disk_full") >= 1; }, 10s);
  CHECK(logged);
  CHECK(daemon
            .metric("pg_log_messages_total",
                    {{"target", "db"}, {"severity", "ERROR"}, {"class", "disk_full"}})
            .value_or(0) >= 1);
  CHECK(wait_until(
      [&] {
        std::lock_guard lock(observed.mutex);
        return observed.ratio_over_90_seen.has_value();
      },
      5s));
  stop = true;
  watcher.join();

  std::lock_guard lock(observed.mutex);
  CHECK(observed.max_ratio > 0.9);
  REQUIRE_MESSAGE(observed.forecast_seen.has_value(), "no fill forecast was ever published");
  CHECK(*observed.forecast_seen < full_at);
  const double lead = seconds_between(*observed.forecast_seen, full_at);
  std::cout << "disk fill: " << inserts << " inserts over " << seconds_between(fill_start, full_at)
            << " s until ENOSPC; forecast published " << lead << " s before it; first prediction "
            << observed.first_forecast - full_at_unix << " s off, last "
            << observed.last_forecast - full_at_unix << " s off; used ratio reached "
            << observed.max_ratio << "\n";
  // A forecast made from a steady fill points near the real moment, not hours away.
  CHECK(observed.first_forecast > fill_start_unix);
  CHECK(std::fabs(observed.last_forecast - full_at_unix) < 30);

  // Give the space back so the server shuts down cleanly.
  try {
    db.query("DROP TABLE fill");
  } catch (const std::exception&) {
  }
}

TEST_CASE(
    "host datadir: a killed postmaster leaves a stale postmaster.pid, a clean start clears it") {
  PgCluster cluster;
  DaemonProcess daemon(daemon_config(cluster, probe_interval("datadir", "500ms")));
  auto value = [&](const std::string& name) {
    return daemon.metric(name, {{"target", "db"}}).value_or(-1);
  };
  // Running: the pid file names a live postmaster listening on its port.
  REQUIRE(wait_until(
      [&] {
        return value("pg_datadir_pidfile_exists") == 1 && value("pg_datadir_stale_pidfile") == 0;
      },
      15s));
  CHECK(value("pg_datadir_exists") == 1);
  CHECK(value("pg_datadir_ownership_ok") == 1);
  CHECK(value("pg_datadir_pidfile_port_listening") == 1);

  const std::string pid_file = cluster.primary_data() + "/postmaster.pid";
  cluster.kill_server("primary");
  REQUIRE(std::filesystem::exists(pid_file));
  auto detected = wait_until([&] { return value("pg_datadir_stale_pidfile") == 1; }, 10s, 20ms);
  REQUIRE(detected);
  std::cout << "stale postmaster.pid detected " << detected->count()
            << " ms after the kill (datadir interval 500 ms)\n";
  CHECK(value("pg_datadir_pidfile_exists") == 1);
  CHECK(value("pg_datadir_pidfile_port_listening") == 0);
  // The data directory is remembered while the server is down.
  CHECK(value("pg_datadir_exists") == 1);
  // pgvigil only looks: the file is still there for the operator.
  CHECK(std::filesystem::exists(pid_file));

  // The runbook's fix: remove the stale file, start cleanly.
  REQUIRE(std::filesystem::remove(pid_file));
  CHECK(wait_until(
      [&] {
        return value("pg_datadir_pidfile_exists") == 0 && value("pg_datadir_stale_pidfile") == 0;
      },
      5s));
  cluster.start_server("primary");
  CHECK(wait_until(
      [&] {
        return value("pg_datadir_pidfile_exists") == 1 && value("pg_datadir_stale_pidfile") == 0 &&
               value("pg_datadir_pidfile_port_listening") == 1;
      },
      10s));
}

TEST_CASE("host backups: a backup 25 h old is stale, touching it clears the state") {
  PgCluster cluster;
  TempDir backups("pgvigil-backups");
  const std::string backup = backups.path() + "/base-1.sql.gz";
  pgvigil::test::write_file(backup, std::string(4096, 'b'));
  const double old_mtime = std::floor(unix_now()) - 25 * 3600;
  set_mtime(backup, old_mtime);
  const std::string glob = backups.path() + "/*.sql.gz";
  const std::string empty_glob = backups.path() + "/*.tar";

  DaemonProcess daemon(daemon_config(
      cluster, probe_interval("backups", "500ms") + "[[target.backup]]\nglob = \"" + glob +
                   "\"\nmax_age = \"24h\"\n[[target.backup]]\nglob = \"" + empty_glob + "\"\n"));
  const MetricLabels labels{{"target", "db"}, {"glob", glob}};
  auto value = [&](const std::string& name, const MetricLabels& which) {
    return daemon.metric(name, which).value_or(-1);
  };
  REQUIRE(wait_until([&] { return value("pg_backup_stale", labels) == 1; }, 10s));
  CHECK(value("pg_backup_files", labels) == 1);
  CHECK(value("pg_backup_last_timestamp_seconds", labels) == old_mtime);
  CHECK(value("pg_backup_last_size_bytes", labels) == 4096);
  CHECK(value("pg_backup_max_age_seconds", labels) == 86400);

  // A glob without any match is a state: 0 files and stale, not a missing metric.
  const MetricLabels empty{{"target", "db"}, {"glob", empty_glob}};
  CHECK(value("pg_backup_files", empty) == 0);
  CHECK(value("pg_backup_stale", empty) == 1);
  CHECK_FALSE(daemon.metric("pg_backup_last_timestamp_seconds", empty).has_value());

  // touch: the mtime becomes now.
  REQUIRE(::utimes(backup.c_str(), nullptr) == 0);
  const double touched_at = unix_now();
  auto cleared = wait_until([&] { return value("pg_backup_stale", labels) == 0; }, 10s);
  REQUIRE(cleared);
  std::cout << "touched backup seen fresh after " << cleared->count() << " ms\n";
  CHECK(std::fabs(value("pg_backup_last_timestamp_seconds", labels) - touched_at) < 5);
  CHECK(value("pg_backup_stale", empty) == 1);
}

TEST_CASE(
    "host logs: a page corrupted on disk fails the query, is logged as corruption and counted") {
  PgClusterOptions options;
  options.checksums = true;
  PgCluster cluster(options);
  std::string relation_path;
  {
    TestConnection db(cluster.conninfo(cluster.primary_port()));
    REQUIRE(db.query("SHOW data_checksums").at(0).at(0) == "on");
    db.query(
        "CREATE TABLE victim WITH (autovacuum_enabled = false) AS "
        "SELECT g AS id, repeat('v', 200) AS pad FROM generate_series(1, 2000) g");
    db.query("CHECKPOINT");
    auto rows =
        db.query("SELECT pg_relation_filepath('victim'), pg_relation_size('victim') / 8192");
    relation_path = cluster.primary_data() + "/" + rows.at(0).at(0).value();
    REQUIRE(std::stoi(rows.at(0).at(1).value()) >= 2);
  }
  DaemonProcess daemon(daemon_config(
      cluster,
      probe_interval("databases", "1s") + probe_interval("logs", "500ms") + log_table(cluster)));
  const MetricLabels postgres_db{{"target", "db"}, {"datname", "postgres"}};
  REQUIRE(wait_until(
      [&] { return daemon.metric("pg_stat_database_checksum_failures", postgres_db) == 0.0; },
      15s));
  REQUIRE(wait_until([&] { return log_class_count(daemon, "corruption") == 0; }, 10s));

  // Overwrite tuple bytes in the middle of block 1 while the server is down;
  // its header stays valid, so only the checksum can tell.
  cluster.stop_server("primary");
  {
    int fd = ::open(relation_path.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    const std::string garbage(64, '\x5a');
    auto written = ::pwrite(fd, garbage.data(), garbage.size(), 8192 + 4000);
    ::close(fd);
    REQUIRE(written == static_cast<ssize_t>(garbage.size()));
  }
  cluster.start_server("primary");

  std::string query_error;
  try {
    TestConnection db(cluster.conninfo(cluster.primary_port()));
    db.query("SELECT count(*) FROM victim");
  } catch (const std::runtime_error& e) {
    query_error = e.what();
  }
  INFO("query error: " << query_error);
  CHECK((contains(query_error, "invalid page in block") ||
         contains(query_error, "checksum verification failed")));

  auto logged = wait_until(
      [&] {
        return daemon
                   .metric("pg_log_messages_total",
                           {{"target", "db"}, {"severity", "ERROR"}, {"class", "corruption"}})
                   .value_or(0) >= 1;
      },
      10s);
  CHECK(logged);
  auto counted = wait_until(
      [&] {
        return daemon.metric("pg_stat_database_checksum_failures", postgres_db).value_or(0) >= 1;
      },
      15s);
  CHECK(counted);
  if (logged && counted)
    std::cout << "corruption logged after " << logged->count()
              << " ms; checksum_failures rose after " << counted->count() << " ms\n";
}

TEST_CASE(
    "host logs: rename and copytruncate rotation of the real server log lose and repeat nothing") {
  PgCluster cluster;
  DaemonProcess daemon(
      daemon_config(cluster, probe_interval("logs", "250ms") + log_table(cluster)));
  // The first round opens the log at its end; from then on every line counts.
  REQUIRE(wait_until([&] { return missing_database_fatals(daemon) == 0; }, 10s));
  const std::string log = cluster.primary_log();
  int expected = 0;
  auto settles_at = [&](int count) {
    bool reached =
        wait_until([&] { return missing_database_fatals(daemon) == count; }, 10s).has_value();
    // A few more rounds must not count anything twice.
    std::this_thread::sleep_for(1500ms);
    return reached && missing_database_fatals(daemon) == count;
  };

  connect_to_missing_databases(cluster, 4, "before");
  expected += 4;
  CHECK(settles_at(expected));

  // Rename rotation. With pg_ctl -l the server's stderr stays open on the
  // renamed file (no logging_collector, so pg_ctl logrotate does not apply):
  // lines keep going there until the restart, which creates a new file under
  // the old name. The tailer must finish the old file, then switch.
  REQUIRE(std::rename(log.c_str(), (log + ".1").c_str()) == 0);
  connect_to_missing_databases(cluster, 4, "renamed");
  expected += 4;
  cluster.stop_server("primary");
  cluster.start_server("primary");
  REQUIRE(std::filesystem::exists(log));
  connect_to_missing_databases(cluster, 4, "newfile");
  expected += 4;
  CHECK(settles_at(expected));

  // copytruncate, as logrotate does it. Lines written between the copy and
  // the truncation are lost to any follower (logrotate documents that race),
  // so the copy is taken once everything so far has been read.
  int exit_code = 0;
  auto output = run_command("cp " + shell_quote(log) + " " + shell_quote(log + ".2") +
                                " && truncate -s 0 " + shell_quote(log),
                            &exit_code);
  REQUIRE_MESSAGE(exit_code == 0, output);
  connect_to_missing_databases(cluster, 4, "truncated");
  expected += 4;
  CHECK(settles_at(expected));
  std::cout << "log rotation: " << expected
            << " classified lines over rename and copytruncate, counted "
            << missing_database_fatals(daemon) << "\n";
}

TEST_CASE(
    "host logs: a restarted daemon resumes at its saved position, re-reading and missing nothing") {
  PgCluster cluster;
  TempDir state("pgvigil-state");
  const auto config =
      daemon_config(cluster, probe_interval("logs", "250ms") + log_table(cluster), state.path());
  auto settles_at = [](const DaemonProcess& daemon, int count) {
    bool reached =
        wait_until([&] { return missing_database_fatals(daemon) == count; }, 10s).has_value();
    std::this_thread::sleep_for(1500ms);
    return reached && missing_database_fatals(daemon) == count;
  };
  {
    DaemonProcess first(config);
    REQUIRE(wait_until([&] { return missing_database_fatals(first) == 0; }, 10s));
    connect_to_missing_databases(cluster, 3, "first");
    CHECK(settles_at(first, 3));
    REQUIRE(first.terminate(5s) == 0);
  }
  CHECK(std::filesystem::exists(state.path() + "/logs-db.state"));
  // Written while no daemon runs: news to the next one, unlike the three above.
  connect_to_missing_databases(cluster, 2, "down");
  DaemonProcess second(config);
  CHECK(settles_at(second, 2));
  connect_to_missing_databases(cluster, 1, "second");
  CHECK(settles_at(second, 3));
}
