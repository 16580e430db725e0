#include "collect/target_monitor.hpp"

#include "collect/database_walk.hpp"

#include <libpq-fe.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace pgvigil {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kServerFactsSql =
    "SELECT current_setting('server_version_num')::int AS version_num, "
    "current_setting('server_version') AS version, pg_is_in_recovery() AS in_recovery, "
    "current_database() AS datname, current_user AS usename, "
    "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, "
    "extract(epoch FROM pg_postmaster_start_time()) AS postmaster_start, "
    "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS has_pgss";
// Only the settings a probe reads through ServerInfo::setting (add a name here
// before reading it): all of pg_settings was ~350 rows per connect and 40 kB
// kept per target; the settings probe reports the values as metrics.
constexpr std::string_view kSettingsSql =
    "SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'data_directory', "
    "'max_connections', 'reserved_connections', 'superuser_reserved_connections')";
// Executable by every role on PostgreSQL 15; its own statement, so a server
// where it was revoked still yields the other facts.
constexpr std::string_view kSystemIdentifierSql =
    "SELECT system_identifier::text AS system_identifier FROM pg_control_system()";
constexpr std::string_view kLivenessSql = "SELECT pg_is_in_recovery() AS in_recovery";
// From 14 on the server reports in_hot_standby itself (ParameterStatus, sent
// before the ReadyForQuery that follows a change, e.g. a promotion), so the
// liveness tick can be an empty query: a round trip through the backend with
// no parse, plan or statistics entry.
constexpr int kReportsHotStandby = 140000;
constexpr std::string_view kEmptyLivenessSql = "";
constexpr std::string_view kDatabasesSql =
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname";

}  // namespace

TargetMonitor::TargetMonitor(asio::io_context& io, MetricsStore& store,
                             std::shared_ptr<const config::TargetConfig> target,
                             BuiltConnParams params, MonitorOptions options)
    : io_(io),
      store_(store),
      target_(std::move(target)),
      params_(std::move(params)),
      options_(options),
      reconnect_timer_(io),
      jitter_(static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(target_->name))),
      liveness_(std::chrono::system_clock::now()) {
  for (const auto& [k, v] : target_->labels) labels_.emplace_back(k, v);
}

TargetMonitor::~TargetMonitor() {
  stopped_ = true;
  if (connection_) connection_->close("stopping");
}

void TargetMonitor::update_target(std::shared_ptr<const config::TargetConfig> target) {
  target_ = std::move(target);
  labels_.clear();
  for (const auto& [k, v] : target_->labels) labels_.emplace_back(k, v);
  published_revision_.reset();  // the labels may have changed: store it whole
  publish_liveness();
}

void TargetMonitor::keep_when_down(std::string probe_key) {
  keep_when_down_.push_back(std::move(probe_key));
}

void TargetMonitor::start() {
  publish_liveness();
  connect_now();
}

void TargetMonitor::stop() {
  stopped_ = true;
  connect_ticket_.release();
  reconnect_timer_.cancel();
  if (connection_) connection_->close("stopping");
}

void TargetMonitor::connect_now() {
  if (stopped_ || connecting_ || (connection_ && connection_->connected())) return;
  if (!params_.error.empty()) {
    ConnectOutcome bad;
    bad.reason = FailureReason::other;
    bad.ping = PingStatus::no_attempt;
    bad.message = params_.error;
    liveness_.on_connect(bad, std::chrono::system_clock::now());
    first_round_done_ = true;
    publish_liveness();
    return;
  }
  connecting_ = true;
  if (!connection_) {
    connection_ = PgConnection::create(io_);
    connection_->set_log_name("target " + target_->name);
    connection_->on_lost([weak = weak_from_this()](FailureReason reason, const std::string& why) {
      if (auto self = weak.lock()) self->handle_lost(reason, why);
    });
  }
  if (!options_.gate) return start_attempt();
  options_.gate->acquire([weak = weak_from_this()](collect::ConnectGate::Ticket ticket) {
    auto self = weak.lock();
    if (!self || self->stopped_) return;  // the ticket goes, and with it the slot
    self->connect_ticket_ = std::move(ticket);
    self->start_attempt();
  });
}

void TargetMonitor::start_attempt() {
  connection_->connect(params_.params, connect_timeout(),
                       [weak = weak_from_this()](const ConnectOutcome& outcome) {
                         if (auto self = weak.lock()) self->handle_connected(outcome);
                       });
}

void TargetMonitor::schedule_reconnect() {
  if (stopped_) return;
  backoff_ = backoff_.count() == 0 ? options_.backoff_initial
                                   : std::min(options_.backoff_cap, backoff_ * 2);
  // ±20 % jitter so a fleet that lost its network does not reconnect in step.
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  const auto delay = std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(backoff_.count()) * spread(jitter_)));
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->connect_now();
  });
}

void TargetMonitor::handle_connected(const ConnectOutcome& outcome) {
  connecting_ = false;
  connect_ticket_.release();
  if (stopped_) return;
  const auto now = std::chrono::system_clock::now();
  const bool was_up = liveness_.up();
  const auto old_reason = liveness_.reason();
  liveness_.on_connect(outcome, now);
  if (!outcome.ok) {
    ready_ = false;
    first_round_done_ = true;
    store_.retain_only(target_->name, keep_when_down_);
    publish_liveness();
    if (was_up || old_reason != liveness_.reason()) notify();
    schedule_reconnect();
    return;
  }
  refresh_server_info([weak = weak_from_this()](bool ok) {
    auto self = weak.lock();
    if (!self || !ok) return;
    self->backoff_ = std::chrono::milliseconds(0);
  });
}

void TargetMonitor::refresh_server_info(std::function<void(bool)> then) {
  std::vector<Query> queries{{"server_facts", std::string(kServerFactsSql)},
                             {"settings", std::string(kSettingsSql)},
                             {"system_identifier", std::string(kSystemIdentifierSql)}};
  const auto started = std::chrono::steady_clock::now();
  connection_->run(
      std::move(queries), options_.liveness_timeout,
      [weak = weak_from_this(), started, then = std::move(then)](RoundOutcome round) {
        auto self = weak.lock();
        if (!self) return;
        if (!round.ok || round.results.size() != 3 || !round.results[0].ok ||
            round.results[0].rows.empty()) {
          // The facts query itself failed: treat as not usable; lost handler
          // (if the connection died) has already marked the target down.
          if (self->connection_ && self->connection_->connected())
            self->connection_->close("could not read server facts");
          if (!self->stopped_) self->schedule_reconnect();
          then(false);
          return;
        }
        const auto& facts = round.results[0];
        ServerInfo info;
        info.version_num = static_cast<int>(facts.number(0, "version_num").value_or(0));
        info.version = std::string(facts.text(0, "version").value_or(""));
        info.in_recovery = facts.boolean(0, "in_recovery").value_or(false);
        info.current_database = std::string(facts.text(0, "datname").value_or(""));
        info.current_user = std::string(facts.text(0, "usename").value_or(""));
        info.is_superuser = facts.boolean(0, "superuser").value_or(false);
        info.has_pg_stat_statements = facts.boolean(0, "has_pgss").value_or(false);
        const auto& settings = round.results[1];
        for (std::size_t r = 0; settings.ok && r < settings.rows.size(); ++r) {
          auto name = settings.text(r, "name");
          auto value = settings.text(r, "setting");
          if (name && value) info.settings.emplace(std::string(*name), std::string(*value));
        }
        const auto& identifier = round.results[2];
        if (identifier.ok && !identifier.rows.empty())
          info.system_identifier =
              std::string(identifier.text(0, "system_identifier").value_or(""));
        self->server_ = std::move(info);
        // Fixed for the connection's life: whether the server reports its
        // role (in_hot_standby) on its own, which spares the liveness query.
        self->hot_standby_reported_ =
            self->server_.version_num >= kReportsHotStandby && self->connection_ &&
            !self->connection_->parameter_status("in_hot_standby").empty();
        if (self->params_.local) {
          auto dir = self->server_.setting("data_directory");
          if (!dir.empty()) self->known_data_directory_ = std::string(dir);
        }
        const bool was_up = self->liveness_.up();
        self->liveness_.on_server_info(self->server_, facts.number(0, "postmaster_start"),
                                       std::chrono::system_clock::now());
        self->liveness_.on_ping(std::chrono::steady_clock::now() - started,
                                self->server_.in_recovery, std::chrono::system_clock::now());
        self->ready_ = true;
        self->first_round_done_ = true;
        self->publish_liveness();
        if (!was_up) self->notify();
        then(true);
      });
}

void TargetMonitor::handle_lost(FailureReason reason, const std::string& why) {
  if (stopped_) return;
  spdlog::debug("target {}: monitoring connection lost: {}", target_->name, why);
  ready_ = false;
  liveness_.on_lost(std::chrono::system_clock::now(), reason, why);
  store_.retain_only(target_->name, keep_when_down_);
  publish_liveness();
  notify();
  // Re-probe at once rather than at the next interval: the attempt classifies
  // the cause (refused, shutting down...) within milliseconds.
  backoff_ = std::chrono::milliseconds(0);
  connect_now();
}

void TargetMonitor::liveness_tick(collect::JobDone done) {
  using collect::JobOutcome;
  const auto finished = [](bool ok) { return JobOutcome{ok, JobOutcome::Store::keep, {}}; };
  if (!ready_ || !connection_ || !connection_->connected()) {
    publish_liveness();
    if (liveness_.reason() == FailureReason::connecting)
      return done(JobOutcome::not_run(JobOutcome::Store::keep));
    done(finished(liveness_.up()));
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  const bool reported = hot_standby_reported_;
  connection_->run(
      {{"liveness", std::string(reported ? kEmptyLivenessSql : kLivenessSql)}},
      options_.liveness_timeout,
      [weak = weak_from_this(), started, finished, reported,
       done = std::move(done)](RoundOutcome round) {
        auto self = weak.lock();
        if (!self) return done(finished(false));
        if (!round.ok || round.results.empty() || !round.results[0].ok) {
          // A failed trivial query on a live connection: the connection is
          // not trustworthy; the lost handler (if fired) already marked it.
          done(finished(false));
          return;
        }
        const bool in_recovery =
            reported
                ? self->connection_ && self->connection_->parameter_status("in_hot_standby") == "on"
                : round.results[0].boolean(0, "in_recovery").value_or(false);
        const bool flipped = self->liveness_.on_ping(std::chrono::steady_clock::now() - started,
                                                     in_recovery, std::chrono::system_clock::now());
        if (flipped) {
          spdlog::warn("target {}: role changed: now {}", self->name(),
                       in_recovery ? "a standby (in recovery)" : "a primary");
          // The old role's series go; the new role's appear at their next round.
          self->store_.retain_only(self->name(), self->keep_when_down_);
          self->refresh_server_info([](bool) {});
          self->notify();
        }
        self->publish_liveness();
        done(finished(true));
      });
}

void TargetMonitor::walk_databases(const std::shared_ptr<SqlProbe>& probe,
                                   std::chrono::milliseconds timeout,
                                   std::vector<std::string> include,
                                   std::vector<std::string> exclude, collect::JobDone done) {
  if (!ready_ || !connection_ || !connection_->connected())
    return done(collect::JobOutcome::not_run());
  // Nothing to run on this server (a version gate): no walk, no connection.
  if (probe
          ->queries({server_, *target_, std::chrono::system_clock::now(), server_.current_database})
          .empty())
    return done(collect::JobOutcome::replaced(true, {}));
  connection_->run(
      {{"databases", std::string(kDatabasesSql)}}, timeout,
      [weak = weak_from_this(), probe, timeout, include = std::move(include),
       exclude = std::move(exclude), done = std::move(done)](RoundOutcome round) mutable {
        auto self = weak.lock();
        if (!self || !round.ok || round.results.empty() || !round.results[0].ok)
          return done(collect::JobOutcome{false, collect::JobOutcome::Store::keep, {}});
        std::vector<std::string> databases;
        const auto& rows = round.results[0];
        for (std::size_t r = 0; r < rows.rows.size(); ++r) {
          std::string name(rows.text(r, "datname").value_or(""));
          if (name.empty()) continue;
          if (!database_selected({include, exclude}, name)) continue;
          databases.push_back(std::move(name));
        }
        self->run_in_databases(probe, timeout, std::move(databases), std::move(done));
      });
}

void TargetMonitor::run_sql_round(const std::shared_ptr<SqlProbe>& probe,
                                  std::chrono::milliseconds timeout, collect::JobDone done,
                                  DatabasePatterns databases) {
  if (!ready_ || !connection_ || !connection_->connected())
    return done(collect::JobOutcome::not_run());
  ProbeContext ctx{server_, *target_, std::chrono::system_clock::now(), server_.current_database,
                   databases};
  auto queries = probe->queries(ctx);
  if (queries.empty()) return done(collect::JobOutcome::replaced(true, {}));  // version gate
  connection_->run(
      std::move(queries), timeout,
      [weak = weak_from_this(), probe,
       // Owned copies: a reload may replace the job's settings
       // (which the spans point into) while the round is out.
       include = std::vector<std::string>(databases.include.begin(), databases.include.end()),
       exclude = std::vector<std::string>(databases.exclude.begin(), databases.exclude.end()),
       done = std::move(done)](RoundOutcome round) {
        auto self = weak.lock();
        if (!self || !round.ok) return done(collect::JobOutcome::dropped());
        SampleSink sink;
        ProbeContext round_ctx{self->server_, *self->target_, std::chrono::system_clock::now(),
                               self->server_.current_database, DatabasePatterns{include, exclude}};
        bool all_ok = true;
        for (const auto& result : round.results) all_ok = all_ok && result.ok;
        try {
          probe->collect(round_ctx, round.results, sink);
        } catch (const std::exception& e) {
          spdlog::error("target {}: probe {} failed to read its results: {}", self->name(),
                        probe->name(), e.what());
          all_ok = false;
        }
        done(collect::JobOutcome::replaced(all_ok, std::move(sink)));
      });
}

void TargetMonitor::run_in_databases(std::shared_ptr<SqlProbe> probe,
                                     std::chrono::milliseconds timeout,
                                     std::vector<std::string> databases, collect::JobDone done) {
  auto walk = std::make_shared<DatabaseWalk>(
      io_, params_.params, std::move(databases), std::move(probe), server_, target_, options_.gate,
      connect_timeout(), timeout, [done = std::move(done)](SampleSink& sink, bool all_ok) {
        done(collect::JobOutcome::replaced(all_ok, std::move(sink)));
      });
  if (ready_) walk->share_own_database(connection_);
  walk->next();
}

void TargetMonitor::run_in_database(const std::shared_ptr<SqlProbe>& probe,
                                    std::chrono::milliseconds timeout, std::string database,
                                    collect::JobDone done) {
  if (!ready_) return done(collect::JobOutcome::not_run());
  run_in_databases(probe, timeout, {std::move(database)}, std::move(done));
}

TargetMonitor::HostDirectories TargetMonitor::host_directories() const {
  HostDirectories out;
  out.data = data_directory();
  out.wal = target_->wal_directory.value_or(out.data.empty() ? "" : out.data + "/pg_wal");
  return out;
}

std::string TargetMonitor::data_directory() const {
  if (target_->data_directory) return *target_->data_directory;
  return known_data_directory_;
}

void TargetMonitor::publish_liveness() {
  // Most ticks of a healthy target move only the round-trip time: one sample
  // rewritten in place, not ~40 series built and compared every second.
  const auto rtt = liveness_.rtt_seconds();
  if (published_revision_ == liveness_.revision() && liveness_.up() && rtt &&
      store_.update_gauge(target_->name, "liveness", "pg_probe_rtt_seconds", *rtt))
    return;
  SampleSink sink;
  liveness_.emit(sink);
  store_.set(target_->name, "liveness", labels_, std::move(sink));
  published_revision_ = liveness_.revision();
}

void TargetMonitor::notify() {
  if (listener_) listener_(*this);
}

}  // namespace pgvigil
