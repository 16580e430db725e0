#pragma once
// Test-only helpers around tests/fixtures/pgcluster: a throwaway PostgreSQL
// primary (and optional streaming replica) per PgCluster object, of the major
// version $PGVIGIL_PG_MAJOR names (13 to 18, default 15), and a plain
// blocking libpq connection for setting up scenarios. Blocking I/O is fine
// here; the daemon itself never uses these.
#include <libpq-fe.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgvigil::test {

struct PgClusterOptions {
  bool replica = false;               // also start a streaming replica (physical slot)
  bool checksums = false;             // initdb --data-checksums
  std::vector<std::string> settings;  // "name=value" lines appended to postgresql.conf
  std::string data_parent;            // put the data directories under this path (e.g. a tmpfs)
};

// Owns one cluster in a fresh temporary directory. The constructor blocks until
// the servers accept connections (and the replica streams); the destructor
// always stops them and removes every file.
class PgCluster {
 public:
  explicit PgCluster(PgClusterOptions options = {});
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int primary_port() const;
  int replica_port() const;              // throws std::logic_error without a replica
  std::string password() const;          // of the superuser "postgres"
  std::string monitor_password() const;  // of "pgvigil_monitor" (member of pg_monitor)
  // host=127.0.0.1 port=.. user=.. dbname=.. password=.. (the password of that
  // user when it is postgres or pgvigil_monitor; none for other users).
  std::string conninfo(int port, const std::string& dbname = "postgres",
                       const std::string& user = "postgres") const;

  std::string dir() const { return dir_; }
  std::string primary_data() const { return primary_data_; }
  std::string replica_data() const;
  std::string primary_log() const { return primary_log_; }
  std::string replica_log() const;
  std::string archive_dir() const { return archive_dir_; }
  std::string password_file() const { return password_file_; }
  std::string monitor_password_file() const { return monitor_password_file_; }
  std::string socket_dir() const { return socket_dir_; }
  int major() const { return major_; }                    // 13 .. 18
  std::string server_bin() const { return server_bin_; }  // initdb, pg_ctl, postgres

  // which: "primary" or "replica". Each throws std::runtime_error with the
  // fixture's output when it fails.
  void stop_server(const std::string& which, const std::string& mode = "fast");
  void start_server(const std::string& which);
  void kill_server(const std::string& which);  // SIGKILL of the postmaster
  void promote();                              // the replica
  // The pid recorded in the server's postmaster.pid (which may be stale after
  // kill_server); throws when there is no such file.
  pid_t postmaster_pid(const std::string& which) const;

 private:
  void fixture(const std::string& arguments);
  void load_environment();
  std::string data_of(const std::string& which) const;

  std::string dir_;
  int primary_port_ = 0;
  int replica_port_ = 0;
  std::string primary_data_, replica_data_, primary_log_, replica_log_;
  std::string archive_dir_, socket_dir_, password_file_, monitor_password_file_;
  std::string password_, monitor_password_;
  std::string server_bin_;
  int major_ = 0;
};

// The major version the next PgCluster will run ($PGVIGIL_PG_MAJOR, else 15).
int requested_major();

// "runuser -u postgres -- <the cluster's pg_ctl> arguments".
std::string pg_ctl_command(const PgCluster& cluster, const std::string& arguments);

// A plain blocking connection for test setup and for holding sessions open
// (idle in transaction, locks, a running pg_sleep).
class TestConnection {
 public:
  explicit TestConnection(const std::string& conninfo);  // throws with PQerrorMessage
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  // Runs sql and returns its rows (NULL cells as nullopt). Throws
  // std::runtime_error on error; the message starts with the SQLSTATE. Waits
  // first for the outcome of an earlier send(), which it discards.
  std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql);
  // Sends sql without waiting for its outcome (e.g. a pg_sleep that blocks).
  void send(const std::string& sql);
  int backend_pid() const;
  PGconn* raw();
  // Makes this session's statistics (pg_stat_*) visible to other sessions.
  void flush_statistics();

 private:
  void discard_pending_results();

  struct Finish {
    void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, Finish> conn_;
};

// Runs cmd through /bin/sh and returns what it printed on stdout and stderr.
// The exit status goes to *exit_code when given (-1 if it did not exit normally).
std::string run_command(const std::string& cmd, int* exit_code = nullptr);

// Quotes a value for a POSIX shell command line.
std::string shell_quote(const std::string& value);

}  // namespace pgvigil::test
