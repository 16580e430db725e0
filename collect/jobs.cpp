#include "collect/jobs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/post.hpp>

#include "collect/target_monitor.hpp"

namespace pgvigil::collect {

namespace asio = boost::asio;

void LivenessJob::run(const std::shared_ptr<TargetMonitor>& target, JobDone done) {
  target->liveness_tick(std::move(done));
}

void SqlProbeJob::run(const std::shared_ptr<TargetMonitor>& target, JobDone done) {
  const auto& database = settings_.database;
  if (!database.empty() && database != target->server().current_database)
    return target->run_in_database(probe_, settings_.timeout, database, std::move(done));
  if (probe_->per_database())
    return target->walk_databases(probe_, settings_.timeout, settings_.include_databases,
                                  settings_.exclude_databases, std::move(done));
  if (settings_.include_databases.empty() && settings_.exclude_databases.empty())
    return target->run_sql_round(probe_, settings_.timeout, std::move(done));
  // A server-wide view of a server with many databases (one shared by many
  // teams, or a bench): the probe narrows its SQL where it can, and the
  // datname series the patterns do not select are dropped here.
  target->run_sql_round(
      probe_, settings_.timeout,
      [include = settings_.include_databases, exclude = settings_.exclude_databases,
       done = std::move(done)](JobOutcome outcome) {
        outcome.samples.retain_if([&](const prometheus::ClientMetric& metric) {
          for (const auto& label : metric.label)
            if (label.name == "datname") return database_selected({include, exclude}, label.value);
          return true;
        });
        done(std::move(outcome));
      },
      {settings_.include_databases, settings_.exclude_databases});
}

void HostProbeJob::run(const std::shared_ptr<TargetMonitor>& target, JobDone done) {
  // Blocking file reads happen on a worker thread; the result comes back to
  // the loop. The config and probe are shared so a reload cannot pull them
  // from under the worker.
  auto config = target->shared_config();
  auto directories = target->host_directories();
  asio::post(pool_, [&io = io_, probe = probe_, config, directories,
                     state_directory = state_directory_, interval = interval_,
                     done = std::move(done)]() mutable {
    SampleSink sink;
    bool ok = true;
    try {
      HostContext ctx{*config,
                      directories.data,
                      directories.wal,
                      state_directory,
                      std::chrono::system_clock::now(),
                      interval};
      probe->collect(ctx, sink);
    } catch (const std::exception& e) {
      spdlog::error("target {}: host probe {} failed: {}", config->name, probe->name(), e.what());
      ok = false;
    }
    asio::post(io, [ok, sink = std::move(sink), done = std::move(done)]() mutable {
      done(JobOutcome::replaced(ok, std::move(sink)));
    });
  });
}

void PatroniJob::configure(const JobSettings& settings) {
  timeout_ = settings.timeout;
  if (settings.url == configured_url_ && (url_ || !url_error_.empty())) return;
  configured_url_ = settings.url;
  url_error_.clear();
  url_ = parse_http_url(settings.url, &url_error_);
  if (!url_) url_error_ = "patroni_url: " + url_error_;
}

void PatroniJob::run(const std::shared_ptr<TargetMonitor>& target, JobDone done) {
  if (!url_) return finish(target->name(), HttpResult{false, 0, {}, url_error_, {}}, done);
  client_.get(*url_, "/cluster", timeout_, kBodyLimit,
              [self = shared_from_this(), name = target->name(), done](HttpResult result) {
                self->finish(name, result, done);
              });
}

void PatroniJob::finish(const std::string& target, const HttpResult& result, const JobDone& done) {
  SampleSink sink;
  bool ok = false;
  if (result.ok) {
    ok = probe_.collect_reply(result.body, sink);
  } else {
    probe_.collect_failure("GET /cluster: " + result.error, sink);
  }
  const std::string where = url_ ? url_->display : std::string("(invalid patroni_url)");
  if (!ok && !failing_)
    spdlog::warn("target {}: Patroni at {} not usable: {}", target, where, probe_.last_error());
  else if (ok && failing_)
    spdlog::info("target {}: Patroni at {} answers again", target, where);
  failing_ = !ok;
  done(JobOutcome::replaced(ok, std::move(sink)));
}

}  // namespace pgvigil::collect
