#pragma once
// One monitored pgbouncer: a persistent connection to its admin console
// (database `pgbouncer` by default) through PgConnection in simple-query
// mode, since the console speaks only the simple query protocol. Every
// interval one round: SHOW VERSION, POOLS, STATS, DATABASES, LISTS, CONFIG,
// one after another under one deadline (probes/pgbouncer parses them).
// Reconnects with capped, jittered backoff. It publishes two snapshots to
// the store itself, like RedisSession: "pgbouncer_liveness" (always) and
// "pgbouncer" (the SHOW round; dropped while the target is down).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "collect/metrics_store.hpp"
#include "collect/pg_connection.hpp"
#include "collect/service_session.hpp"
#include "config/config.hpp"
#include "probes/pgbouncer.hpp"

namespace pgvigil {

struct PgbouncerSessionOptions {
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_cap{5000};
};

// The libpq parameters of a pgbouncer target: nothing of a PostgreSQL
// target's (no `options`, which pgbouncer refuses as a startup parameter).
ConnParams pgbouncer_conn_params(const config::ServiceTargetConfig& target,
                                 const std::optional<std::string>& password);

class PgbouncerSession final : public ServiceSession,
                               public std::enable_shared_from_this<PgbouncerSession> {
 public:
  // `password`: the first line of password_file, read at (re)load, not here.
  PgbouncerSession(boost::asio::io_context& io, MetricsStore& store,
                   config::ServiceTargetConfig target, std::optional<std::string> password,
                   PgbouncerSessionOptions options = {});
  ~PgbouncerSession() override;
  PgbouncerSession(const PgbouncerSession&) = delete;
  PgbouncerSession& operator=(const PgbouncerSession&) = delete;

  void start() override;
  void stop() override;
  bool same_connection(const config::ServiceTargetConfig& other,
                       const std::optional<std::string>& password) const override;
  void update_target(config::ServiceTargetConfig target) override;

  const config::ServiceTargetConfig& config() const noexcept override { return target_; }
  const config::TargetConfig& facts_config() const noexcept override { return facts_config_; }
  const Labels& labels() const noexcept override { return labels_; }
  bool up() const noexcept override { return liveness_.up; }
  std::string_view reason() const noexcept override {
    return pgbouncer::to_string(liveness_.reason);
  }
  const std::string& last_error() const noexcept override { return last_error_; }
  std::chrono::system_clock::time_point since() const noexcept override { return since_; }
  std::string display_version() const override {
    return version_.empty() ? std::string() : "PgBouncer " + version_;
  }
  std::string_view role() const noexcept override { return ""; }
  bool first_round_done() const noexcept override { return first_round_done_; }
  std::vector<std::string> snapshot_names() const override {
    return {"pgbouncer", "pgbouncer_liveness"};
  }

 private:
  void schedule_round(std::chrono::milliseconds delay);
  void begin_round();
  void connect();
  void send_round();
  void on_round(std::uint64_t id, RoundOutcome outcome);
  void fail(pgbouncer::DownReason reason, std::string why);
  void close();
  void publish_liveness();
  void set_target(config::ServiceTargetConfig target);

  boost::asio::io_context& io_;
  MetricsStore& store_;
  config::ServiceTargetConfig target_;
  config::TargetConfig facts_config_;
  std::optional<std::string> password_;
  PgbouncerSessionOptions options_;
  Labels labels_;

  std::shared_ptr<PgConnection> connection_;
  // Moves with every connection: callbacks of a closed one see a stale id.
  std::uint64_t connection_id_ = 0;
  boost::asio::steady_timer round_timer_;
  bool in_round_ = false;
  bool stopped_ = false;
  bool first_round_done_ = false;

  pgbouncer::Liveness liveness_;
  std::string last_error_;
  std::chrono::system_clock::time_point since_;
  std::string version_;
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_;
};

}  // namespace pgvigil
