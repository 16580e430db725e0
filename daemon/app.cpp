#include "daemon/app.hpp"

#include <systemd/sd-daemon.h>

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/post.hpp>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "alerts/alertmanager_payload.hpp"
#include "collect/exposition_text.hpp"
#include "collect/job_catalogue.hpp"
#include "collect/target_set.hpp"
#include "config/parse.hpp"
#include "config/secret_file.hpp"
#include "daemon/pages.hpp"
#include "daemon/preflight.hpp"
#include "daemon/runbook_pages.hpp"
#include "daemon/runbooks.hpp"
#include "daemon/status_facts.hpp"
#include "daemon/status_page.hpp"

namespace pgvigil {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kMaxStall = 5s;  // /health turns 503 when the loop has not woken for this long
// A /metrics body is reused for ten times its build time after the build, so
// scrapers back to back leave the loop at least 90 % for everything else.
constexpr unsigned kMetricsBuildShare = 10;
// Bodies that took 5 ms or more (a fleet of a few hundred targets) are
// assembled on a worker; requests meanwhile get the current body if it is at
// most a second old. Prometheus, every 15 s, waits for a fresh one.
constexpr auto kMetricsOffLoopAbove = 5ms;
constexpr auto kMetricsMaxAge = 1s;

// CPU time of the calling thread: what evaluation (or a body's assembly)
// costs, not what the machine's load adds to it.
double thread_cpu_seconds() {
  timespec spec{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec);
  return static_cast<double>(spec.tv_sec) + static_cast<double>(spec.tv_nsec) / 1e9;
}

// One unlabelled counter of the daemon's own registry.
prometheus::Counter& own_counter(prometheus::Registry& registry, const char* name,
                                 const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The alert rules' view of the daemon: the store's latest samples (their own
// labels; the evaluator adds the target's once, to the alert), evidence from
// any of the target's probes, and the scheduler's per-probe values, looked up
// by target (no copy of the registry per evaluation).
class StoreAlertSource final : public alerts::AlertSource {
 public:
  StoreAlertSource(const MetricsStore& store, const collect::Scheduler& scheduler)
      : store_(store), scheduler_(scheduler) {}

  std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                 std::string_view metric) const override {
    if (metric.starts_with("pgvigil_probe_")) {  // kept by the scheduler, not the store
      std::vector<std::pair<Labels, double>> out;
      for (auto& [probe, value] : scheduler_.probe_values(target, metric))
        out.push_back({Labels{{"probe", std::move(probe)}}, value});
      return out;
    }
    return store_.samples(target, metric);
  }

  bool tracked(std::string_view metric) const override {
    return !metric.starts_with("pgvigil_probe_");  // move with every run, not with the store
  }

  std::optional<std::string> evidence(const std::string& target,
                                      std::string_view key) const override {
    for (const auto& probe : store_.probes_of(target)) {
      const auto* evidence = store_.evidence(target, probe);
      if (evidence == nullptr) continue;
      if (auto it = evidence->find(key); it != evidence->end()) return it->second;
    }
    return std::nullopt;
  }

 private:
  const MetricsStore& store_;
  const collect::Scheduler& scheduler_;
};

std::string rfc3339_or_empty(alerts::Clock::time_point time) {
  return time == alerts::Clock::time_point{} ? std::string() : alerts::rfc3339(time);
}

}  // namespace

App::App(config::Config config)
    : config_(std::move(config)),
      signals_(io_, SIGINT, SIGTERM, SIGHUP),
      watchdog_timer_(io_),
      shutdown_timer_(io_),
      registry_(std::make_shared<prometheus::Registry>()),
      reload_ok_family_(prometheus::BuildGauge()
                            .Name("pgvigil_config_last_reload_successful")
                            .Help("1 when the last configuration load succeeded.")
                            .Register(*registry_)),
      reload_ok_(reload_ok_family_.Add({})),
      reload_time_(prometheus::BuildGauge()
                       .Name("pgvigil_config_last_reload_success_timestamp_seconds")
                       .Help("When the configuration was last loaded successfully (unix time).")
                       .Register(*registry_)
                       .Add({})),
      scheduler_(std::chrono::steady_clock::now(), [] { return std::chrono::system_clock::now(); }),
      driver_(io_, scheduler_),
      runner_(scheduler_, store_),
      connect_gate_(
          collect::ConnectGate::create(io_, config_.max_connection_attempts, registry_.get())),
      alert_timer_(io_),
      refresh_timer_(io_),
      evaluation_seconds_(own_counter(*registry_, "pgvigil_alert_evaluation_seconds_total",
                                      "CPU time the alert evaluation took, summed over rounds.")),
      evaluated_targets_(
          own_counter(*registry_, "pgvigil_alert_evaluated_targets_total",
                      "Targets whose rules ran in an evaluation round, summed over rounds.")),
      skipped_targets_(own_counter(*registry_, "pgvigil_alert_skipped_targets_total",
                                   "Targets left out of an evaluation round because nothing they "
                                   "read changed (only their clock-driven rules ran).")),
      metrics_builds_(own_counter(*registry_, "pgvigil_metrics_builds_total",
                                  "/metrics bodies assembled because a source changed (requests "
                                  "in between are served from the last one).")),
      metrics_build_seconds_(own_counter(*registry_, "pgvigil_metrics_build_seconds_total",
                                         "CPU time spent assembling /metrics bodies (on the loop "
                                         "for a small fleet, on a worker for a large one).")),
      exposition_([this] { return build_metrics(); }, io_.get_executor(), workers_.get_executor()) {
  alertmanager_ = std::make_unique<AlertmanagerClient>(io_, *registry_);
  discovery_ = std::make_unique<Discovery>(io_, workers_, *registry_, [this] { apply_targets(); });
  exposition_.pace_builds(&std::chrono::steady_clock::now, kMetricsBuildShare);
  exposition_.assemble_off_loop(kMetricsOffLoopAbove, kMetricsMaxAge);
  reload_ok_.Set(1);
  reload_time_.Set(now_seconds());
  // Rounds that change only the liveness round trip do not wake the rules.
  store_.set_volatile_metrics({"pg_probe_rtt_seconds", "redis_probe_rtt_seconds",
                               "pgbouncer_probe_rtt_seconds", "neo4j_query_rtt_seconds"});
  if (const char* faults = std::getenv("PGVIGIL_TEST_FAULTS"); faults && std::string(faults) == "1")
    signals_.add(SIGUSR1);
  build_routes();
}

App::~App() {
  discovery_->stop();
  for (auto& [name, monitor] : monitors_) monitor->stop();
  for (auto& [name, session] : service_sessions_) session->stop();
  workers_.join();
}

std::vector<asio::ip::tcp::endpoint> App::start() {
  http::HttpServerOptions options;
  options.max_connections = config_.server.max_connections;
  options.body_limit = config_.server.max_request_bytes;
  options.read_timeout = config_.server.read_timeout;
  options.idle_timeout = config_.server.idle_timeout;
  options.tls = config_.server.tls;
  options.basic_auth_users = config_.server.basic_auth_users;
  options.auth_exempt_health = config_.server.auth_exempt_health;
  server_ = std::make_unique<http::HttpServer>(
      io_, options, [this](const http::Request& request) { return router_.handle(request); });
  auto endpoints = server_->listen(config_.server.listen);
  for (const auto& endpoint : endpoints)
    spdlog::info("listening on {}://{}:{}/", config_.server.tls ? "https" : "http",
                 endpoint.address().to_string(), endpoint.port());
  if (!endpoints.empty()) {
    // generatorURL base when [alerting] external_url is not set.
    std::string host = endpoints.front().address().to_string();
    if (endpoints.front().address().is_unspecified()) {
      char name[256] = {};
      host = ::gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
    } else if (endpoints.front().address().is_v6()) {
      host = "[" + host + "]";
    }
    generator_base_ = std::string(config_.server.tls ? "https://" : "http://") + host + ":" +
                      std::to_string(endpoints.front().port());
  }
  apply(config_);
  schedule_alert_evaluation();
  schedule_self_metrics_refresh();
  driver_.start();
  watch_signals();
  start_watchdog();
  return endpoints;
}

int App::run() {
  sd_notify(0, "READY=1");
  sd_notifyf(0, "STATUS=%s", status_line().c_str());
  io_.run();
  return 0;
}

void App::stop() {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("stopping");
  sd_notify(0, "STOPPING=1");
  driver_.stop();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  watchdog_timer_.cancel();
  alert_timer_.cancel();
  refresh_timer_.cancel();
  alertmanager_->stop();
  discovery_->stop();
  for (auto& [name, monitor] : monitors_) monitor->stop();
  for (auto& [name, session] : service_sessions_) session->stop();
  if (server_) server_->stop();
  // In-flight responses get a moment; then the loop stops regardless.
  shutdown_timer_.expires_after(1500ms);
  shutdown_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) io_.stop();
  });
}

void App::watch_signals() {
  signals_.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGUSR1) {
      // Test-only fault hook (PGVIGIL_TEST_FAULTS=1): wedge the loop so tests
      // can prove /health and the watchdog notice a stalled daemon.
      spdlog::warn("test fault: stalling the event loop for 20 s");
      std::this_thread::sleep_for(20s);
      watch_signals();
      return;
    }
    if (signal == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      reload();
      sd_notify(0, "READY=1");
      watch_signals();
      return;
    }
    stop();
  });
}

void App::start_watchdog() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const auto period = std::chrono::microseconds(usec / 2);
  watchdog_timer_.expires_after(period);
  watchdog_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    // Ping only while the scheduler is really advancing: a wedged loop never
    // gets here, and a stalled scheduler fails healthy().
    if (healthy()) {
      sd_notify(0, "WATCHDOG=1");
      sd_notifyf(0, "STATUS=%s", status_line().c_str());
    }
    start_watchdog();
  });
}

bool App::reload() {
  auto loaded = config::load_config_file(config_.source_path, alerts::config_vocabulary());
  for (const auto& warning : loaded.warnings) spdlog::warn("config: {}", warning);
  if (!loaded.config) {
    for (const auto& error : loaded.errors) spdlog::error("config reload: {}", error.to_string());
    spdlog::error("config reload failed; the previous configuration keeps running");
    reload_ok_.Set(0);
    ++tail_generation_;
    return false;
  }
  if (const auto problems = check_config_dependencies(*loaded.config); !problems.empty()) {
    for (const auto& problem : problems) spdlog::error("config reload: {}", problem);
    spdlog::error("config reload failed; the previous configuration keeps running");
    reload_ok_.Set(0);
    ++tail_generation_;
    return false;
  }
  if (shard_override_ && *shard_override_ >= loaded.config->shards) {
    spdlog::error("config reload: --shard {} is not below shards = {}", *shard_override_,
                  loaded.config->shards);
    spdlog::error("config reload failed; the previous configuration keeps running");
    reload_ok_.Set(0);
    ++tail_generation_;
    return false;
  }
  if (loaded.config->server.listen != config_.server.listen)
    spdlog::warn("config reload: [server] listen changes take effect after a restart");
  const bool ok = apply(std::move(*loaded.config));
  reload_ok_.Set(ok ? 1 : 0);
  ++tail_generation_;
  if (ok) {
    reload_time_.Set(now_seconds());
    spdlog::info("configuration reloaded: {} targets", monitors_.size() + service_sessions_.size());
  }
  return ok;
}

void App::override_log_level(std::string level) {
  log_level_override_ = std::move(level);
  apply_log_level();
}

void App::apply_log_level() {
  const std::string& name = log_level_override_.empty() ? config_.log.level : log_level_override_;
  // Both come checked against config::kLogLevels, so "off" is meant.
  spdlog::set_level(spdlog::level::from_str(name));
}

bool App::apply(config::Config config) {
  const auto listen = config_.server.listen;
  config_ = std::move(config);
  config_.server.listen = listen;
  // Users and the health exemption apply at once; TLS settings need a restart
  // (renewed certificate files are picked up without one).
  if (server_)
    server_->update_auth(config_.server.basic_auth_users, config_.server.auth_exempt_health);
  apply_log_level();

  connect_gate_->set_limit(config_.max_connection_attempts);
  if (shard_override_) config_.shard = *shard_override_;  // checked against shards before
  discovery_->configure(config_);
  service_targets_pending_ = true;
  apply_targets();
  configure_alerting();
  return true;
}

void App::override_shard(std::uint32_t shard) {
  shard_override_ = shard;
}

void App::apply_targets() {
  if (stopping_) return;
  const auto set = collect::build_target_set(config_, discovery_->sources());
  discovery_->note_target_set(set);
  ++tail_generation_;  // pgvigil_sd_targets changed: the next scrape shows it
  MonitorOptions options;
  options.gate = connect_gate_;
  std::map<std::string, std::shared_ptr<TargetMonitor>> next;
  for (const auto& target : set.targets) {
    auto shared_target = std::make_shared<const config::TargetConfig>(target);
    auto params = build_conn_params(target, options.statement_timeout);
    auto existing = monitors_.find(target.name);
    const bool known = existing != monitors_.end();
    if (!params.error.empty() && !(known && existing->second->config() == target))
      spdlog::error("{}", params.error);
    std::shared_ptr<TargetMonitor> monitor;
    if (known && existing->second->connection_params_equal(params)) {
      monitor = existing->second;  // same server, same credentials: keep connection and state
      if (monitor->config() == target) {  // nothing changed: leave its jobs alone
        monitors_.erase(existing);
        next.emplace(target.name, monitor);
        continue;
      }
      monitor->update_target(shared_target);
      monitors_.erase(existing);
    } else {
      if (known) {
        drop_target(target.name, *existing->second);
        monitors_.erase(existing);
      }
      monitor =
          std::make_shared<TargetMonitor>(io_, store_, shared_target, std::move(params), options);
      monitor->on_state_change([this](const TargetMonitor& m) { log_state_change(m); });
      monitor->start();
    }
    runner_.sync(monitor, collect::plan_jobs(config_, target, {io_, workers_}));
    next.emplace(target.name, monitor);
  }
  for (auto& [name, monitor] : monitors_) drop_target(name, *monitor);  // no longer monitored
  monitors_ = std::move(next);
  // After the PostgreSQL monitors, so a target that changed kind finds the
  // other kind's series already handled. Only after a (re)load: discovery
  // never yields a target of another kind, and the shard's share of the static ones
  // moves only with the config.
  if (service_targets_pending_) {
    service_targets_pending_ = false;
    apply_service_targets(set.service_targets);
  }
}

// Targets of other kinds have no jobs: each session runs its own round and
// publishes to the store (collect/service_session.hpp). A reload that leaves
// a target's kind, address, credentials and timeout alone keeps its session
// and connection.
void App::apply_service_targets(const std::vector<config::ServiceTargetConfig>& targets) {
  std::map<std::string, std::shared_ptr<ServiceSession>> next;
  for (const auto& target : targets) {
    std::optional<std::string> password;
    if (!target.password_file.empty()) {
      // Read at (re)load, like a PostgreSQL target's password_file; the
      // preflight already said whether it is readable.
      password = config::read_secret_file(target.password_file);
      if (!password)
        spdlog::error("target {}: cannot read password_file {}", target.name, target.password_file);
    }
    auto existing = service_sessions_.find(target.name);
    std::shared_ptr<ServiceSession> session;
    if (existing != service_sessions_.end() &&
        existing->second->same_connection(target, password)) {
      session = existing->second;
      session->update_target(target);
      service_sessions_.erase(existing);
    } else {
      if (existing != service_sessions_.end()) {
        existing->second->stop();
        service_sessions_.erase(existing);
      }
      // This target's series from before the reload, of any kind.
      store_.remove_target(target.name);
      session = make_service_session(io_, store_, target, std::move(password));
      session->on_state_change([this](const ServiceSession& s) { log_service_state_change(s); });
      session->start();
    }
    next.emplace(target.name, std::move(session));
  }
  for (auto& [name, session] : service_sessions_) {  // no longer configured
    session->stop();
    if (monitors_.contains(name)) {  // now a PostgreSQL target: keep its series
      for (const auto& snapshot : session->snapshot_names()) store_.remove(name, snapshot);
    } else {
      store_.remove_target(name);
    }
  }
  service_sessions_ = std::move(next);
}

void App::log_service_state_change(const ServiceSession& session) {
  if (session.up()) {
    const auto role = session.role();
    spdlog::info("target {} is up: {}{}", session.name(), session.display_version(),
                 role.empty() ? std::string() : " (" + std::string(role) + ")");
  } else {
    spdlog::warn("target {} is down: reason={} ({})", session.name(), session.reason(),
                 session.last_error());
  }
  sd_notifyf(0, "STATUS=%s", status_line().c_str());
}

void App::drop_target(const std::string& name, TargetMonitor& monitor) {
  monitor.stop();
  runner_.remove_target(name);
}

void App::log_state_change(const TargetMonitor& monitor) {
  const auto& live = monitor.liveness();
  if (live.up()) {
    // Fill the target's series at once after (re)connecting instead of
    // waiting up to a slow probe's interval; while a ramp of connection
    // attempts waits, the gate lets only a few such rounds run.
    connect_gate_->acquire(
        [this, name = monitor.name(),
         weak = std::weak_ptr<const TargetMonitor>(monitor.shared_from_this())](
            collect::ConnectGate::Ticket slot) {
          const auto still = weak.lock();
          if (!still || stopping_ || !still->liveness().up()) return;
          runner_.run_session_jobs_soon(name, std::move(slot));
        },
        collect::Admission::first_round);
    spdlog::info("target {} is up: PostgreSQL {} ({})", monitor.name(), monitor.server().version,
                 monitor.server().in_recovery ? "standby" : "primary");
  } else {
    spdlog::warn("target {} is down: reason={} ({})", monitor.name(), to_string(live.reason()),
                 live.last_error());
  }
  sd_notifyf(0, "STATUS=%s", status_line().c_str());
}

bool App::ready() const {
  for (const auto& [name, monitor] : monitors_)
    if (!monitor->first_round_done()) return false;
  for (const auto& [name, session] : service_sessions_)
    if (!session->first_round_done()) return false;
  return runner_.all_ran_once();
}

bool App::healthy() const {
  return !stopping_ && driver_.healthy(std::chrono::steady_clock::now(), kMaxStall);
}

std::string App::status_line() const {
  std::size_t up = 0;
  for (const auto& [name, monitor] : monitors_) up += monitor->liveness().up() ? 1U : 0U;
  for (const auto& [name, session] : service_sessions_) up += session->up() ? 1U : 0U;
  return std::to_string(monitors_.size() + service_sessions_.size()) + " targets, " +
         std::to_string(up) + " up";
}

MetricsExposition::Assemble App::build_metrics() {
  metrics_builds_.Increment();
  if (tail_built_ != tail_generation_) {
    std::string tail;
    append_families(tail, registry_->Collect());
    scheduler_.write_text(tail);
    append_families(tail, evaluator_.collect_metrics());
    append_families(tail, self_metrics_.Collect());
    tail_text_ = std::make_shared<const std::string>(std::move(tail));
    tail_built_ = tail_generation_;
  }
  return [parts = store_.text_parts(), tail = tail_text_,
          seconds = &metrics_build_seconds_](std::string& out) {
    const double cpu_before = thread_cpu_seconds();
    parts.assemble(out);
    out += *tail;
    seconds->Increment(std::max(0.0, thread_cpu_seconds() - cpu_before));  // atomic
  };
}

void App::schedule_self_metrics_refresh() {
  if (stopping_) return;
  refresh_timer_.expires_after(1s);
  refresh_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    ++tail_generation_;
    schedule_self_metrics_refresh();
  });
}

void App::build_routes() {
  router_.add("/metrics", [this](const http::Request&) {
    http::RouteReply reply;
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply.plain_body = [this](http::ResponseText::Delivery deliver) {
      exposition_.plain(metrics_version(), std::move(deliver));
    };
    reply.gzipped_body = [this](http::ResponseText::Delivery deliver) {
      exposition_.gzipped(metrics_version(), std::move(deliver));
    };
    reply.compressible = true;
    return reply;
  });
  // The runbook pages of this version; alerts link here (runbook_url).
  for (const auto& page : embedded_runbooks()) {
    auto serve = [page](const http::Request&) {
      http::RouteReply reply;
      reply.content_type = "text/plain; charset=utf-8";  // browsers show it; markdown reads as text
      reply.body = std::string(page.markdown);
      reply.compressible = true;
      return reply;
    };
    router_.add("/runbooks/" + std::string(page.file), serve);
  }
  // The same pages as HTML, rendered once here: /runbooks/<Alert> and the index.
  for (auto& [name, html] : render_runbook_pages(embedded_runbooks())) {
    router_.add("/runbooks/" + name, [html = std::make_shared<const std::string>(std::move(html))](
                                         const http::Request&) {
      http::RouteReply reply;
      reply.content_type = "text/html; charset=utf-8";
      reply.body = *html;
      reply.compressible = true;
      return reply;
    });
  }
  // 200 or 503 with a line of text: what load balancers and kubelets read.
  const auto status_route = [](std::function<bool()> check, std::string ok_text,
                               std::string failing_text) {
    return [check = std::move(check), ok_text = std::move(ok_text),
            failing_text = std::move(failing_text)](const http::Request&) {
      http::RouteReply reply;
      reply.content_type = "text/plain; charset=utf-8";
      const bool ok = check();
      reply.status = ok ? 200 : 503;
      reply.body = ok ? ok_text : failing_text;
      return reply;
    };
  };
  router_.add("/health", status_route([this] { return healthy(); }, "ok\n",
                                      "event loop or scheduler stalled\n"));
  router_.add("/ready", status_route([this] { return ready(); }, "ready\n",
                                     "waiting for the first round of probes\n"));
  router_.add("/", [this](const http::Request& request) {
    http::RouteReply reply;
    reply.content_type = "text/html; charset=utf-8";
    reply.body = render_status_page(status_page(request));
    reply.compressible = true;
    return reply;
  });
  router_.add("/api/v1/alerts", [this](const http::Request& request) {
    http::RouteReply reply;
    reply.content_type = "application/json";
    reply.body = render_alerts_json(alert_views(request));
    reply.compressible = true;
    return reply;
  });
  router_.add("/api/v1/targets", [this](const http::Request&) {
    http::RouteReply reply;
    reply.content_type = "application/json";
    reply.body = render_targets_json(target_views());
    reply.compressible = true;
    return reply;
  });
}

std::vector<TargetView> App::target_views() const {
  std::vector<TargetView> views;
  for (const auto& [name, monitor] : monitors_) {
    TargetView view;
    view.name = name;
    view.up = monitor->liveness().up();
    view.reason = std::string(to_string(monitor->liveness().reason()));
    view.error = monitor->liveness().last_error();
    if (monitor->server_known()) {
      view.version = monitor->server().version;
      view.role = monitor->server().in_recovery ? "replica" : "primary";
    }
    view.probes = store_.probes_of(name);
    views.push_back(std::move(view));
  }
  for (const auto& [name, session] : service_sessions_) {
    TargetView view;
    view.name = name;
    view.up = session->up();
    view.reason = std::string(session->reason());
    view.error = session->last_error();
    view.version = session->display_version();
    view.role = std::string(session->role());
    view.probes = store_.probes_of(name);
    views.push_back(std::move(view));
  }
  return views;
}

StatusPage App::status_page(const http::Request& request) const {
  StatusPage page;
  const auto now = std::chrono::system_clock::now();
  const auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  page.now_unix = unix_seconds(now);
  page.refresh_seconds = 5;
  page.version = PGVIGIL_VERSION;
  for (auto& view : target_views()) {
    TargetStatus status;
    if (auto monitor = monitors_.find(view.name); monitor != monitors_.end())
      status.since_unix = unix_seconds(monitor->second->liveness().since());
    else if (auto session = service_sessions_.find(view.name); session != service_sessions_.end())
      status.since_unix = unix_seconds(session->second->since());
    status.target = std::move(view);
    status_facts(store_, std::chrono::duration<double>(now.time_since_epoch()).count(), status);
    page.targets.push_back(std::move(status));
  }
  page.alerts = alert_views(request);
  return page;
}

void App::configure_alerting() {
  // Alerts link to this daemon's own pages unless a base is configured.
  const auto& alerting = config_.alerting;
  std::string own = alerting.external_url.empty() ? generator_base_ : alerting.external_url;
  if (own.ends_with('/')) own.pop_back();
  evaluator_.set_runbook_base(!alerting.runbook_base_url.empty() ? alerting.runbook_base_url
                                                                 : own + "/runbooks/");
  AlertmanagerClientOptions options;
  options.urls = config_.alerting.alertmanagers;
  options.timeout = config_.alerting.send_timeout;
  std::string error;
  options.authorization = alertmanager_authorization(config_.alerting, &error);
  if (!error.empty()) spdlog::error("alerting: {}", error);
  alertmanager_->configure(std::move(options));
}

void App::schedule_alert_evaluation() {
  if (stopping_) return;
  alert_timer_.expires_after(
      std::max<config::Duration>(config_.alerting.evaluation_interval, 100ms));
  alert_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    evaluate_alerts();
    schedule_alert_evaluation();
  });
}

void App::evaluate_alerts() {
  const auto now = std::chrono::system_clock::now();
  std::vector<alerts::TargetFacts> targets;
  for (const auto& [name, monitor] : monitors_) {
    alerts::TargetFacts facts;
    facts.name = name;
    facts.labels = monitor->labels();
    facts.up = monitor->liveness().up();
    facts.reason = std::string(to_string(monitor->liveness().reason()));
    facts.last_error = monitor->liveness().last_error();
    facts.config = &monitor->config();
    facts.input_generation = store_.input_generation(name);
    targets.push_back(std::move(facts));
  }
  for (const auto& [name, session] : service_sessions_) {
    alerts::TargetFacts facts;
    facts.name = name;
    facts.labels = session->labels();
    facts.up = session->up();
    facts.reason = std::string(session->reason());
    facts.last_error = session->last_error();
    facts.config = &session->facts_config();
    facts.input_generation = store_.input_generation(name);
    targets.push_back(std::move(facts));
  }
  const auto before = evaluator_.work();
  const double cpu_before = thread_cpu_seconds();
  try {
    StoreAlertSource source(store_, scheduler_);
    evaluator_.evaluate(source, targets, now);
  } catch (const std::exception& e) {
    spdlog::error("alerts: evaluation failed: {}", e.what());
    return;
  }
  evaluation_seconds_.Increment(std::max(0.0, thread_cpu_seconds() - cpu_before));
  const auto& after = evaluator_.work();
  evaluated_targets_.Increment(
      static_cast<double>(after.targets_evaluated - before.targets_evaluated));
  skipped_targets_.Increment(
      static_cast<double>(after.targets_unchanged - before.targets_unchanged));
  if (alertmanager_->alertmanager_count() == 0) return;
  const auto& alerting = config_.alerting;
  const auto due = evaluator_.take_due(now, alerting.resend_interval);
  if (due.empty()) return;
  const std::string& base = alerting.external_url.empty() ? generator_base_ : alerting.external_url;
  alertmanager_->send(alerts::alertmanager_batch(
      due, now, {alerting.evaluation_interval, alerting.resend_interval}, base));
}

std::vector<AlertView> App::alert_views(const http::Request& request) const {
  const std::string_view target(request.target().data(), request.target().size());
  const auto only_alert = http::query_parameter(target, "alertname");
  const auto only_target = http::query_parameter(target, "target");
  std::vector<AlertView> views;
  for (const auto* alert : evaluator_.alerts()) {
    if (!only_alert.empty() && alert->rule != only_alert) continue;
    if (!only_target.empty() && alert->target != only_target) continue;
    AlertView view;
    view.alertname = alert->rule;
    view.state = std::string(alerts::to_string(alert->state));
    view.severity = alert->severity;
    view.target = alert->target;
    view.labels = alert->labels;
    view.summary = alert->summary;
    view.description = alert->description;
    view.runbook_url = alert->runbook_url;
    view.evidence = alert->evidence;
    view.active_at = rfc3339_or_empty(alert->active_at);
    view.fired_at = rfc3339_or_empty(alert->fired_at);
    view.resolved_at = rfc3339_or_empty(alert->resolved_at);
    view.value = alert->value;
    views.push_back(std::move(view));
  }
  return views;
}

}  // namespace pgvigil
