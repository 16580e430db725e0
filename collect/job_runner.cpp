#include "collect/job_runner.hpp"

#include <algorithm>

#include "collect/target_monitor.hpp"

namespace pgvigil::collect {

void JobRunner::sync(const std::shared_ptr<TargetMonitor>& monitor,
                     const std::vector<JobSpec>& plan) {
  const std::string& target = monitor->name();
  std::weak_ptr<TargetMonitor> weak = monitor;
  for (const auto& spec : plan) {
    const JobKey key{target, spec.key};
    auto& job = jobs_[key];
    if (!job || spec.rebuild) job = spec.make();
    job->configure(spec.settings);
    if (job->survives_down()) monitor->keep_when_down(spec.key);
    const bool is_new = !scheduler_.has_job(key);
    // Whether this registration already put the key in completed_: a
    // set insert per completion (string compares down the tree) was 1.4 % of
    // the agent at 1000 targets.
    auto recorded = std::make_shared<bool>(false);
    scheduler_.add(
        key, spec.settings.interval, [this, weak, key, job = job, recorded](Scheduler::Done done) {
          auto target_monitor = weak.lock();
          if (!target_monitor) return done(false);
          job->run(target_monitor,
                   [this, weak, key, recorded, done = std::move(done)](JobOutcome outcome) mutable {
                     const bool ok = outcome.ok;
                     const bool ran = outcome.ran;
                     if (auto m = weak.lock())
                       store(key.target, key.probe, m->labels(), std::move(outcome));
                     if (!*recorded) {
                       completed_.insert(key);
                       *recorded = true;
                     }
                     first_round_job_finished(key);
                     if (ran) {
                       done(ok);
                     } else {
                       done.not_run();
                     }
                   });
        });
    if (is_new) scheduler_.run_soon(key);
  }
  // Jobs (and their series) for probes that were disabled or removed.
  for (auto it = jobs_.lower_bound({target, ""});
       it != jobs_.end() && it->first.target == target;) {
    const bool planned = std::any_of(
        plan.begin(), plan.end(), [&](const JobSpec& spec) { return spec.key == it->first.probe; });
    if (planned) {
      ++it;
      continue;
    }
    scheduler_.remove(it->first);
    first_round_job_finished(it->first);
    completed_.erase(it->first);
    store_.remove(target, it->first.probe);
    it = jobs_.erase(it);
  }
}

void JobRunner::remove_target(const std::string& target) {
  first_rounds_.erase(target);
  scheduler_.remove_target(target);
  store_.remove_target(target);
  // The target's own range only (keys order by target first).
  const JobKey first{target, ""};
  const auto in_target = [&](const JobKey& key) { return key.target == target; };
  auto done = completed_.lower_bound(first);
  while (done != completed_.end() && in_target(*done)) done = completed_.erase(done);
  auto job = jobs_.lower_bound(first);
  while (job != jobs_.end() && in_target(job->first)) job = jobs_.erase(job);
}

void JobRunner::run_session_jobs_soon(const std::string& target, ConnectGate::Ticket slot) {
  FirstRound round{{}, std::move(slot)};
  for (auto it = jobs_.lower_bound({target, ""}); it != jobs_.end() && it->first.target == target;
       ++it) {
    const auto need = it->second->need();
    if ((need == JobNeed::session || need == JobNeed::database_walk) &&
        scheduler_.run_soon(it->first))
      round.pending.insert(it->first.probe);
  }
  // A round still pending from an earlier connect lets its slot go here.
  if (round.pending.empty()) {
    first_rounds_.erase(target);
  } else {
    first_rounds_[target] = std::move(round);
  }
}

void JobRunner::first_round_job_finished(const JobKey& key) {
  auto it = first_rounds_.find(key.target);
  if (it == first_rounds_.end()) return;
  it->second.pending.erase(key.probe);
  if (it->second.pending.empty()) first_rounds_.erase(it);
}

bool JobRunner::all_ran_once() const {
  return std::all_of(jobs_.begin(), jobs_.end(),
                     [&](const auto& entry) { return completed_.contains(entry.first); });
}

void JobRunner::store(const std::string& target, const std::string& key, const Labels& labels,
                      JobOutcome outcome) {
  switch (outcome.store) {
    case JobOutcome::Store::replace:
      store_.set(target, key, labels, std::move(outcome.samples));
      break;
    case JobOutcome::Store::drop:
      store_.remove(target, key);
      break;
    case JobOutcome::Store::keep:
      break;
  }
}

}  // namespace pgvigil::collect
