#pragma once
// The daemon: one io_context, the scheduler driving every (target, probe)
// job, the monitors, the metrics store and the HTTP endpoints. Config reloads
// (SIGHUP) are applied here without touching what did not change.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "alerts/evaluator.hpp"
#include "collect/job_runner.hpp"
#include "collect/loop_driver.hpp"
#include "collect/metrics_store.hpp"
#include "collect/scheduler.hpp"
#include "collect/service_session.hpp"
#include "collect/target_monitor.hpp"
#include "config/config.hpp"
#include "daemon/alertmanager_client.hpp"
#include "daemon/discovery.hpp"
#include "daemon/http_routes.hpp"
#include "daemon/http_server.hpp"
#include "daemon/metrics_exposition.hpp"
#include "daemon/pages.hpp"
#include "daemon/self_metrics.hpp"
#include "daemon/status_page.hpp"

namespace pgvigil {

class App {
 public:
  explicit App(config::Config config);
  ~App();

  // --log-level: kept over every reload ("" = the config's [log] level).
  void override_log_level(std::string level);

  // Binds the listeners (throws std::runtime_error naming the address) and
  // starts monitors and the scheduler. Returns the bound endpoints.
  std::vector<boost::asio::ip::tcp::endpoint> start();
  // Runs the loop until a stop signal or stop(); returns the exit code.
  int run();
  void stop();
  // Re-reads the config file; a bad one is logged and the old config stays.
  bool reload();
  bool apply(config::Config config);
  // --shard: kept over every reload (the config's `shard` otherwise).
  void override_shard(std::uint32_t shard);

  boost::asio::io_context& io() noexcept { return io_; }
  const MetricsStore& store() const noexcept { return store_; }
  bool ready() const;
  bool healthy() const;
  std::string status_line() const;

 private:
  void apply_log_level();
  void drop_target(const std::string& name, TargetMonitor& monitor);
  // The static targets plus the discovered ones, this shard's share: started,
  // kept (same server and credentials) or dropped.
  void apply_targets();
  void build_routes();
  void watch_signals();
  void start_watchdog();
  void log_state_change(const TargetMonitor& monitor);
  void log_service_state_change(const ServiceSession& session);
  void apply_service_targets(const std::vector<config::ServiceTargetConfig>& targets);
  // The /metrics body: the store's text, then the registry's, the
  // evaluator's and the process's families (the "tail"), the tail
  // re-serialised only when its generation moved.
  // On the loop: holds the sources as they are now; the assembly it returns
  // may run on a worker.
  MetricsExposition::Assemble build_metrics();
  std::uint64_t metrics_version() const noexcept { return store_.generation() + tail_generation_; }
  // Every second: the registry's and the process's values may have moved.
  void schedule_self_metrics_refresh();
  std::vector<TargetView> target_views() const;
  StatusPage status_page(const http::Request& request) const;  // the landing page's state
  // Alerts: evaluated on the loop every [alerting] evaluation_interval.
  void schedule_alert_evaluation();
  void evaluate_alerts();
  void configure_alerting();
  std::vector<AlertView> alert_views(const http::Request& request) const;

  config::Config config_;
  std::string log_level_override_;
  std::optional<std::uint32_t> shard_override_;
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_{2};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer shutdown_timer_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& reload_ok_family_;
  prometheus::Gauge& reload_ok_;
  prometheus::Gauge& reload_time_;
  MetricsStore store_;
  SelfMetrics self_metrics_;
  collect::Scheduler scheduler_;
  collect::LoopDriver driver_;
  collect::JobRunner runner_;
  std::shared_ptr<collect::ConnectGate> connect_gate_;  // after io_: its tickets post there
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  std::map<std::string, std::shared_ptr<TargetMonitor>> monitors_;
  std::map<std::string, std::shared_ptr<ServiceSession>> service_sessions_;  // other kinds
  // Set by apply(): targets of other kinds come from the config only, so a
  // discovery round (which also runs apply_targets) leaves them alone and
  // does not re-read their password files.
  bool service_targets_pending_ = false;
  std::unique_ptr<Discovery> discovery_;
  bool stopping_ = false;
  alerts::Evaluator evaluator_;
  std::unique_ptr<AlertmanagerClient> alertmanager_;
  boost::asio::steady_timer alert_timer_;
  boost::asio::steady_timer refresh_timer_;
  prometheus::Counter& evaluation_seconds_;
  prometheus::Counter& evaluated_targets_;
  prometheus::Counter& skipped_targets_;
  prometheus::Counter& metrics_builds_;
  prometheus::Counter& metrics_build_seconds_;
  std::uint64_t tail_generation_ = 1;
  std::uint64_t tail_built_ = 0;
  // Shared with assemblies under way; a new text when the tail changes.
  std::shared_ptr<const std::string> tail_text_ = std::make_shared<const std::string>();
  MetricsExposition exposition_;
  std::string generator_base_;  // external_url, or http://HOST:PORT of the first listener
};

}  // namespace pgvigil
