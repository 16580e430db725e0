#pragma once
// The job kinds (collect/job.hpp): each is a thin adapter from a probe to
// what it needs from the target. Which jobs a target gets is decided by the
// catalogue (collect/job_catalogue.*).
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <optional>
#include <string>

#include "collect/http_client.hpp"
#include "collect/job.hpp"
#include "probes/patroni.hpp"
#include "probes/probe.hpp"

namespace pgvigil::collect {

// The trivial query that keeps pg_up current; the monitor publishes its
// liveness series on every change, so the round stores nothing itself.
class LivenessJob final : public Job {
 public:
  JobNeed need() const noexcept override { return JobNeed::session; }
  void configure(const JobSettings&) override {}
  void run(const std::shared_ptr<TargetMonitor>& target, JobDone done) override;
};

// A SQL probe: on the monitoring connection, in every selected database
// (per-database probes), or in one named database (custom checks).
class SqlProbeJob final : public Job {
 public:
  explicit SqlProbeJob(std::shared_ptr<SqlProbe> probe) : probe_(std::move(probe)) {}
  JobNeed need() const noexcept override {
    return probe_->per_database() || !settings_.database.empty() ? JobNeed::database_walk
                                                                 : JobNeed::session;
  }
  void configure(const JobSettings& settings) override { settings_ = settings; }
  void run(const std::shared_ptr<TargetMonitor>& target, JobDone done) override;

 private:
  std::shared_ptr<SqlProbe> probe_;
  JobSettings settings_;
};

// A host probe: reads local files on the worker pool, its result posted back
// to the loop.
class HostProbeJob final : public Job {
 public:
  HostProbeJob(std::shared_ptr<HostProbe> probe, boost::asio::io_context& io,
               boost::asio::thread_pool& pool)
      : probe_(std::move(probe)), io_(io), pool_(pool) {}
  JobNeed need() const noexcept override { return JobNeed::host; }
  void configure(const JobSettings& settings) override {
    state_directory_ = settings.state_directory;
    interval_ = settings.interval;
  }
  void run(const std::shared_ptr<TargetMonitor>& target, JobDone done) override;

 private:
  std::shared_ptr<HostProbe> probe_;
  boost::asio::io_context& io_;
  boost::asio::thread_pool& pool_;
  std::string state_directory_;
  config::Duration interval_{0};
};

// Patroni's REST API: GET <patroni_url>/cluster through the one HTTP client,
// parsed by PatroniProbe. Its series stay while PostgreSQL is down: Patroni
// answering about a dead server is the point.
class PatroniJob final : public Job, public std::enable_shared_from_this<PatroniJob> {
 public:
  static constexpr std::size_t kBodyLimit = 1024 * 1024;

  explicit PatroniJob(boost::asio::io_context& io) : client_(io) {}
  JobNeed need() const noexcept override { return JobNeed::http; }
  // A new URL replaces the old one; the probe's state (leader changes) stays.
  void configure(const JobSettings& settings) override;
  void run(const std::shared_ptr<TargetMonitor>& target, JobDone done) override;

 private:
  void finish(const std::string& target, const HttpResult& result, const JobDone& done);

  HttpClient client_;
  PatroniProbe probe_;
  std::chrono::milliseconds timeout_{5000};
  std::optional<HttpUrl> url_;
  std::string configured_url_;
  std::string url_error_;  // why patroni_url cannot be used (never holds its password)
  bool failing_ = false;   // for logging once per change, not every round
};

}  // namespace pgvigil::collect
