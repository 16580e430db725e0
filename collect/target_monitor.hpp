#pragma once
// One monitored PostgreSQL server: its single monitoring connection
// (reconnected with capped, jittered backoff), its liveness state, the facts
// read once per connection, and the plumbing that runs probe rounds for it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "collect/conn_params.hpp"
#include "collect/connect_gate.hpp"
#include "collect/job.hpp"
#include "collect/metrics_store.hpp"
#include "collect/pg_connection.hpp"
#include "config/config.hpp"
#include "probes/liveness.hpp"
#include "probes/probe.hpp"

namespace pgvigil {

struct MonitorOptions {
  // Used when the target sets no connect_timeout of its own.
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds liveness_timeout{5000};
  std::chrono::milliseconds statement_timeout{15000};
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_cap{5000};
  // Admission control shared by every target (none: attempts start at once).
  std::shared_ptr<collect::ConnectGate> gate;
};

class TargetMonitor : public std::enable_shared_from_this<TargetMonitor> {
 public:
  using StateListener = std::function<void(const TargetMonitor&)>;

  TargetMonitor(boost::asio::io_context& io, MetricsStore& store,
                std::shared_ptr<const config::TargetConfig> target, BuiltConnParams params,
                MonitorOptions options);
  ~TargetMonitor();

  void start();
  void stop();
  void on_state_change(StateListener listener) { listener_ = std::move(listener); }
  // Probes whose snapshots survive the target going down (host probes).
  void keep_when_down(std::string probe_key);

  // What the jobs (collect/jobs.*) ask of the target. Each calls done
  // exactly once; none stores anything (the JobRunner does).
  // Publishes liveness (JobOutcome store "keep"); not run while the first
  // attempt is pending, a failure while the target is down.
  void liveness_tick(collect::JobDone done);
  // One pipelined round of `probe` on the monitoring connection. `databases`
  // (read at once, not kept) lets the probe narrow its SQL to them.
  void run_sql_round(const std::shared_ptr<SqlProbe>& probe, std::chrono::milliseconds timeout,
                     collect::JobDone done, DatabasePatterns databases = {});
  // `probe` in every database that passes include/exclude (globs), one
  // short-lived connection at a time; collect() once per database.
  void walk_databases(const std::shared_ptr<SqlProbe>& probe, std::chrono::milliseconds timeout,
                      std::vector<std::string> include, std::vector<std::string> exclude,
                      collect::JobDone done);
  // `probe` in one other database of the same server (custom checks).
  void run_in_database(const std::shared_ptr<SqlProbe>& probe, std::chrono::milliseconds timeout,
                       std::string database, collect::JobDone done);
  // The directories host probes look at: the data directory (configured, or
  // the server's own when it runs on this host; may be empty) and pg_wal.
  struct HostDirectories {
    std::string data;
    std::string wal;
  };
  HostDirectories host_directories() const;
  std::shared_ptr<const config::TargetConfig> shared_config() const noexcept { return target_; }

  const std::string& name() const noexcept { return target_->name; }
  const config::TargetConfig& config() const noexcept { return *target_; }
  const Labels& labels() const noexcept { return labels_; }
  const LivenessState& liveness() const noexcept { return liveness_; }
  const ServerInfo& server() const noexcept { return server_; }
  bool server_known() const noexcept { return server_.version_num != 0; }
  bool first_round_done() const noexcept { return first_round_done_; }
  bool connection_params_equal(const BuiltConnParams& other) const {
    return other.params == params_.params;
  }
  // Replace the non-connection parts of the target's config (labels, probes...).
  void update_target(std::shared_ptr<const config::TargetConfig> target);

 private:
  void connect_now();
  void start_attempt();
  std::chrono::milliseconds connect_timeout() const {
    return params_.connect_timeout.value_or(options_.connect_timeout);
  }
  void schedule_reconnect();
  void handle_connected(const ConnectOutcome& outcome);
  void refresh_server_info(std::function<void(bool)> then);
  void handle_lost(FailureReason reason, const std::string& why);
  void publish_liveness();
  void notify();
  void run_in_databases(std::shared_ptr<SqlProbe> probe, std::chrono::milliseconds timeout,
                        std::vector<std::string> databases, collect::JobDone done);
  std::string data_directory() const;

  boost::asio::io_context& io_;
  MetricsStore& store_;
  std::shared_ptr<const config::TargetConfig> target_;
  BuiltConnParams params_;
  MonitorOptions options_;
  Labels labels_;
  std::shared_ptr<PgConnection> connection_;
  collect::ConnectGate::Ticket connect_ticket_;  // held while an attempt is in flight
  boost::asio::steady_timer reconnect_timer_;
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_;
  bool connecting_ = false;
  bool stopped_ = false;
  bool ready_ = false;  // connected and the server's facts are known
  bool first_round_done_ = false;
  bool hot_standby_reported_ = false;  // in_hot_standby arrives as a ParameterStatus
  LivenessState liveness_;
  // The liveness revision last stored whole (none: store the next one whole).
  std::optional<std::uint64_t> published_revision_;
  ServerInfo server_;
  std::string known_data_directory_;
  std::vector<std::string> keep_when_down_{"liveness"};
  StateListener listener_;
};

}  // namespace pgvigil
