#pragma once
// The in-daemon alert evaluator: runs every rule over every target, keeps one
// alert per (rule, label set) through inactive -> pending -> firing ->
// resolved, and decides which alerts are due for (re)sending to Alertmanager.
// Time is passed in (evaluate(now)), so it is tested with a manual clock.
// Single-threaded: the daemon calls it on its loop.
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "alerts/labels.hpp"  // fingerprint, the key of alerts_
#include "alerts/rules.hpp"

namespace pgvigil::alerts {

enum class AlertState { pending, firing, resolved };
std::string_view to_string(AlertState state) noexcept;

struct Alert {
  std::string rule;  // alertname
  std::string target;
  std::string severity;
  Labels labels;  // the complete, sorted label set (alertname, severity, target...)
  std::string summary;
  std::string description;
  std::string runbook_url;
  // Captured when the alert started firing, and completed during the next
  // kEvidenceSettle when a source that had nothing yet (a log line read a
  // round later) produces something.
  std::string evidence;
  AlertState state = AlertState::pending;
  double value = 0;
  std::chrono::milliseconds for_duration{0};
  Clock::time_point active_at{};    // condition first true (pending since)
  Clock::time_point fired_at{};     // when it turned firing
  Clock::time_point resolved_at{};  // when the condition stopped holding
  std::optional<Clock::time_point> last_sent;
};

class Evaluator {
 public:
  using Warn = std::function<void(const std::string&)>;
  // How long a resolved alert is kept (and re-sent) after resolving.
  static constexpr std::chrono::minutes kResolvedRetention{15};
  // How long after firing missing evidence is still filled in (and the alert
  // re-sent at once with it).
  static constexpr std::chrono::seconds kEvidenceSettle{60};

  // `warn` receives configuration problems (unknown threshold keys), once
  // each; by default they go to spdlog.
  explicit Evaluator(Warn warn = {});

  // Base of the runbook_url annotation of alerts raised from now on
  // (default "/runbooks/", this daemon's own pages by relative URL).
  void set_runbook_base(std::string base) { runbook_base_ = std::move(base); }

  // One evaluation round at `now` over every target. A target whose facts
  // and input_generation did not move since the last round reuses its
  // rules' verdicts, except for rules that read the clock or untracked
  // values last time; `for` timers, resolution and evidence run regardless.
  void evaluate(const AlertSource& source, const std::vector<TargetFacts>& targets,
                Clock::time_point now);

  // What the rounds so far cost: targets with a changed input, targets
  // that reused their verdicts, rule evaluations run and reused.
  struct Work {
    std::uint64_t targets_evaluated = 0;
    std::uint64_t targets_unchanged = 0;
    std::uint64_t rules_run = 0;
    std::uint64_t rules_reused = 0;
  };
  const Work& work() const noexcept { return work_; }

  // Pending and firing alerts, then resolved ones still retained; each group
  // ordered by label set.
  std::vector<const Alert*> alerts() const;
  std::size_t count(AlertState state) const;

  // Alerts to send now, marked as sent: firing ones not sent within
  // `resend_interval`, and resolved ones not sent since they resolved or not
  // within `resend_interval` (until their retention ends). Pending never.
  std::vector<Alert> take_due(Clock::time_point now, std::chrono::milliseconds resend_interval);

  // pgvigil_alerts{alertname,state} and pgvigil_alert_active{labels...,alertstate}.
  std::vector<prometheus::MetricFamily> collect_metrics() const;

 private:
  struct Verdict {
    std::vector<Finding> findings;
    // Until when the findings stand while the target's inputs do not move:
    // for ever for a rule that read neither the clock nor untracked values
    // and keeps no memory, until what the rule declared settled (RuleContext),
    // or not at all.
    std::optional<Clock::time_point> holds_until;
    bool holds_at(Clock::time_point now) const { return holds_until && now < *holds_until; }
  };
  struct TargetMemory {
    std::map<std::string, RuleMemory> per_rule;
    std::map<std::string, Verdict, std::less<>> verdicts;  // by rule name, from the last round
    std::uint64_t input_generation = 0;
    std::string facts;  // what of TargetFacts the rules read, as one string
  };
  void warn_once(const std::string& message);

  Warn warn_;
  std::set<std::string> warned_;
  std::map<std::string, Alert> alerts_;  // by fingerprint
  std::map<std::string, TargetMemory> memory_;
  std::set<std::string> failed_rules_;  // rule evaluations that threw (logged once)
  std::string runbook_base_ = "/runbooks/";
  Work work_;
};

}  // namespace pgvigil::alerts
