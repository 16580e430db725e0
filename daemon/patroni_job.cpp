#include "daemon/patroni_job.hpp"

#include <spdlog/spdlog.h>

#include "daemon/target_monitor.hpp"

namespace pgvigil {

PatroniJob::PatroniJob(boost::asio::io_context& io, MetricsStore& store)
    : fetcher_(io), store_(store) {}

void PatroniJob::configure(const std::string& patroni_url) {
  url_error_.clear();
  url_ = parse_fetch_url(patroni_url, &url_error_);
  if (!url_) url_error_ = "patroni_url: " + url_error_;
}

void PatroniJob::run(const std::shared_ptr<TargetMonitor>& monitor,
                     std::chrono::milliseconds timeout, std::function<void(bool)> done) {
  std::weak_ptr<TargetMonitor> weak = monitor;
  if (!url_) return finish(weak, FetchResult{false, 0, {}, url_error_}, done);
  fetcher_.get(*url_, "/cluster", timeout, kBodyLimit,
               [self = shared_from_this(), weak, done](FetchResult result) {
                 self->finish(weak, result, done);
               });
}

void PatroniJob::finish(const std::weak_ptr<TargetMonitor>& weak, const FetchResult& result,
                        const std::function<void(bool)>& done) {
  auto monitor = weak.lock();
  if (!monitor) return done(false);  // the target was removed meanwhile
  SampleSink sink;
  bool ok = false;
  if (result.ok) {
    ok = probe_.collect_reply(result.body, sink);
  } else {
    probe_.collect_failure("GET /cluster: " + result.error, sink);
  }
  const std::string where = url_ ? url_->display : std::string("(invalid patroni_url)");
  if (!ok && !failing_)
    spdlog::warn("target {}: Patroni at {} not usable: {}", monitor->name(), where,
                 probe_.last_error());
  else if (ok && failing_)
    spdlog::info("target {}: Patroni at {} answers again", monitor->name(), where);
  failing_ = !ok;
  auto evidence = sink.take_evidence();
  store_.set(monitor->name(), "patroni", monitor->labels(), sink.take(), std::move(evidence));
  done(ok);
}

}  // namespace pgvigil
