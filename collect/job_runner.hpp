#pragma once
// Runs every target's jobs on the scheduler and stores their rounds: the one
// place a round's samples and evidence reach the metrics store, whatever the
// job's kind. Also knows which jobs have finished a first round (/ready).
// Loop thread only.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "collect/connect_gate.hpp"
#include "collect/job.hpp"
#include "collect/job_catalogue.hpp"
#include "collect/metrics_store.hpp"
#include "collect/scheduler.hpp"

namespace pgvigil {
class TargetMonitor;
}

namespace pgvigil::collect {

class JobRunner {
 public:
  JobRunner(Scheduler& scheduler, MetricsStore& store) : scheduler_(scheduler), store_(store) {}

  // Makes the target's jobs match the plan: new ones are added and run at
  // once (not at their phase), existing ones take the new settings and keep
  // their state, the rest are removed with their series.
  void sync(const std::shared_ptr<TargetMonitor>& monitor, const std::vector<JobSpec>& plan);
  void remove_target(const std::string& target);
  // Runs the target's session and database jobs at the next tick: after a
  // (re)connect its series fill at once instead of at a slow job's interval.
  // `slot` (the gate's first-round admission) is held until every job it
  // started has finished, or the target or its jobs go.
  void run_session_jobs_soon(const std::string& target, ConnectGate::Ticket slot = {});
  // Every job has finished at least one round (successful or not).
  bool all_ran_once() const;
  bool ran_once(const JobKey& key) const { return completed_.contains(key); }

 private:
  void store(const std::string& target, const std::string& key, const Labels& labels,
             JobOutcome outcome);
  // A job of the target's first round finished (or went): the round's slot
  // goes with its last job.
  void first_round_job_finished(const JobKey& key);

  Scheduler& scheduler_;
  MetricsStore& store_;
  std::map<JobKey, std::shared_ptr<Job>> jobs_;
  std::set<JobKey> completed_;
  struct FirstRound {
    std::set<std::string> pending;  // probe keys started by run_session_jobs_soon
    ConnectGate::Ticket slot;
  };
  std::map<std::string, FirstRound> first_rounds_;
};

}  // namespace pgvigil::collect
