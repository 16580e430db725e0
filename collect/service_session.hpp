#pragma once
// A target of a kind other than PostgreSQL (redis, pgbouncer, neo4j): one
// session on the daemon's io_context that connects, runs its own rounds on
// its own timer and publishes its snapshots to the store itself (no job, no
// scheduler entry). The App sees every kind through this interface only:
// reload, status page, /api/v1/targets, alert facts, readiness.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collect/metrics_store.hpp"
#include "config/config.hpp"

namespace pgvigil {

class ServiceSession {
 public:
  using StateListener = std::function<void(const ServiceSession&)>;

  virtual ~ServiceSession() = default;

  virtual void start() = 0;
  // Closes the connection and cancels timers; the store keeps what was
  // published (the App removes a dropped target's series).
  virtual void stop() = 0;
  void on_state_change(StateListener listener) { listener_ = std::move(listener); }

  // True when `other` needs no new connection (same kind, address,
  // credentials, timeout): a reload then keeps this session and calls
  // update_target with the rest (labels, interval, rule overrides).
  virtual bool same_connection(const config::ServiceTargetConfig& other,
                               const std::optional<std::string>& password) const = 0;
  virtual void update_target(config::ServiceTargetConfig target) = 0;

  virtual const config::ServiceTargetConfig& config() const noexcept = 0;
  const std::string& name() const noexcept { return config().name; }
  // The shape the alert evaluator and the status page take for any target.
  virtual const config::TargetConfig& facts_config() const noexcept = 0;
  virtual const Labels& labels() const noexcept = 0;
  virtual bool up() const noexcept = 0;
  // The kind's reason name ("none" while up, "connecting" before the first
  // attempt ended, then "refused", "auth_failed", ... as in <kind>_up).
  virtual std::string_view reason() const noexcept = 0;
  virtual const std::string& last_error() const noexcept = 0;
  virtual std::chrono::system_clock::time_point since() const noexcept = 0;
  // For people: "Redis 7.0.15", "PgBouncer 1.18.0", "Neo4j 5.26.0
  // (enterprise)"; empty until the server said.
  virtual std::string display_version() const = 0;
  // "primary", "replica" or "" where the kind has no role.
  virtual std::string_view role() const noexcept = 0;
  virtual bool first_round_done() const noexcept = 0;
  // The store snapshots (probe names) this session publishes, so a target
  // that changes kind on reload loses exactly these.
  virtual std::vector<std::string> snapshot_names() const = 0;

 protected:
  void notify_state_change() {
    if (listener_) listener_(*this);
  }

 private:
  StateListener listener_;
};

// The one table of kinds: a session for `target` (its kind decides which).
// `password`: the first line of password_file, read at (re)load.
std::shared_ptr<ServiceSession> make_service_session(boost::asio::io_context& io,
                                                     MetricsStore& store,
                                                     config::ServiceTargetConfig target,
                                                     std::optional<std::string> password);

}  // namespace pgvigil
