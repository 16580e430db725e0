#pragma once
// The Patroni job of one target: GET <patroni_url>/cluster on the loop
// (HttpFetcher), the reply parsed by PatroniProbe, the samples stored under
// the target's "patroni" probe. Its series stay while PostgreSQL is down:
// Patroni answering about a dead server is the point.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/http_fetch.hpp"
#include "daemon/metrics_store.hpp"
#include "probes/patroni.hpp"

namespace pgvigil {

class TargetMonitor;

class PatroniJob : public std::enable_shared_from_this<PatroniJob> {
 public:
  static constexpr std::size_t kBodyLimit = 1024 * 1024;

  PatroniJob(boost::asio::io_context& io, MetricsStore& store);

  // Sets (or, on reload, replaces) the REST endpoint. The probe's state (the
  // leader-change count) is kept.
  void configure(const std::string& patroni_url);
  // One round; `done(success)` runs once, within `timeout` plus a loop turn.
  void run(const std::shared_ptr<TargetMonitor>& monitor, std::chrono::milliseconds timeout,
           std::function<void(bool)> done);

 private:
  void finish(const std::weak_ptr<TargetMonitor>& weak, const FetchResult& result,
              const std::function<void(bool)>& done);

  HttpFetcher fetcher_;
  MetricsStore& store_;
  PatroniProbe probe_;
  std::optional<FetchUrl> url_;
  std::string url_error_;  // why patroni_url cannot be used (never holds its password)
  bool failing_ = false;   // for logging once per change, not every round
};

}  // namespace pgvigil
