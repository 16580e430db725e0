#pragma once
// The one job contract. A job is one kind of work done for one target on a
// schedule: it says what it needs (the target's PostgreSQL session, a walk
// over its databases, the host's files, an HTTP endpoint) and produces one
// round of samples and evidence. It never stores anything itself: the
// JobRunner stores every kind's rounds the same way (collect/job_runner.*).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/units.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil {
class TargetMonitor;
}

namespace pgvigil::collect {

enum class JobNeed {
  session,        // the target's monitoring connection
  database_walk,  // a short-lived connection to each selected database in turn
  host,           // local files, read on the worker pool
  http,           // an HTTP endpoint (Patroni's REST API, ...)
};

// One round's result and what becomes of the job's stored series.
struct JobOutcome {
  enum class Store {
    replace,  // the round's samples replace the job's previous ones
    drop,     // nothing to show (the round could not run): previous series go
    keep,     // the job publishes elsewhere (liveness: the monitor, on every change)
  };
  bool ok = false;
  Store store = Store::replace;
  SampleSink samples;
  // False when the round could not start because the target's session is not
  // up (still connecting, or down: pg_up says why). Such a round is neither a
  // run nor a failure, so a restart does not look like failing probes.
  bool ran = true;

  static JobOutcome replaced(bool ok, SampleSink samples) {
    return {ok, Store::replace, std::move(samples)};
  }
  static JobOutcome dropped() { return {false, Store::drop, {}}; }
  static JobOutcome not_run(Store store = Store::drop) { return {false, store, {}, false}; }
};
using JobDone = std::function<void(JobOutcome)>;

// Settings resolved from the config (target override, [probes.NAME], the
// probe's default); applied again on every reload.
struct JobSettings {
  config::Duration interval{1000};
  config::Duration timeout{10'000};
  // Glob patterns: the databases a per-database probe walks, and the
  // datname series a server-wide probe keeps. Empty include = all.
  std::vector<std::string> include_databases;
  std::vector<std::string> exclude_databases;
  std::string database;         // a custom check's own database; "" = the target's
  std::string url;              // for http jobs
  std::string state_directory;  // where host probes may keep small state files
};

class Job {
 public:
  virtual ~Job() = default;
  virtual JobNeed need() const noexcept = 0;
  // True when the job's series stay while the target's PostgreSQL is down:
  // the host's files and Patroni still have something to say then.
  bool survives_down() const noexcept { return need() == JobNeed::host || need() == JobNeed::http; }
  // Takes new settings; the job's state (counters, previous values) stays.
  virtual void configure(const JobSettings& settings) = 0;
  // One round for `target`; `done` runs exactly once, on the loop.
  virtual void run(const std::shared_ptr<TargetMonitor>& target, JobDone done) = 0;
};

}  // namespace pgvigil::collect
