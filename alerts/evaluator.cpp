#include "alerts/evaluator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "alerts/template.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil::alerts {

std::string_view to_string(AlertState state) noexcept {
  switch (state) {
    case AlertState::pending:
      return "pending";
    case AlertState::firing:
      return "firing";
    case AlertState::resolved:
      return "resolved";
  }
  return "unknown";
}

namespace {

// Later entries win: target labels, then the rule's, then the fixed ones, so
// a target label called "severity" cannot disguise an alert.
void set_label(Labels& labels, const std::string& name, const std::string& value) {
  for (auto& [key, existing] : labels)
    if (key == name) {
      existing = value;
      return;
    }
  labels.emplace_back(name, value);
}

std::string evidence_text(const AlertSource& source, const std::string& target,
                          const Finding& finding, const RuleDefinition& rule) {
  std::string text = finding.evidence;
  auto add = [&](std::string_view key) {
    auto found = source.evidence(target, key);
    if (!found || found->empty()) return;
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "[" + std::string(key) + "]\n" + *found;
  };
  for (auto key : rule.evidence_keys) add(key);
  for (const auto& key : finding.evidence_keys) add(key);
  return text;
}

// Sections ("[key]" lines) in an evidence text: how many sources had something.
std::size_t evidence_sections(std::string_view text) {
  std::size_t count = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find('\n', at), text.size());
    const auto line = text.substr(at, end - at);
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') ++count;
    at = end + 1;
  }
  return count;
}

}  // namespace

Evaluator::Evaluator(Warn warn) : warn_(std::move(warn)) {
  if (!warn_) warn_ = [](const std::string& message) { spdlog::warn("alerts: {}", message); };
}

void Evaluator::warn_once(const std::string& message) {
  if (warned_.insert(message).second) warn_(message);
}

namespace {

// The source as one rule sees it: records a read of an untracked metric,
// after which the rule's verdict cannot be reused.
class TrackingSource final : public AlertSource {
 public:
  TrackingSource(const AlertSource& inner, bool& untracked_read)
      : inner_(inner), untracked_read_(untracked_read) {}
  std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                 std::string_view metric) const override {
    if (!inner_.tracked(metric)) untracked_read_ = true;
    return inner_.samples(target, metric);
  }
  // Evidence is not rule input (the store's input generation ignores it):
  // a rule that reads it is not reused.
  std::optional<std::string> evidence(const std::string& target,
                                      std::string_view key) const override {
    untracked_read_ = true;
    return inner_.evidence(target, key);
  }
  bool tracked(std::string_view metric) const override { return inner_.tracked(metric); }

 private:
  const AlertSource& inner_;
  bool& untracked_read_;
};

std::string facts_key(const TargetFacts& target) {
  std::string key = target.up ? "1" : "0";
  for (const auto* part : {&target.reason, &target.last_error}) {
    key += '\x1f';
    key += *part;
  }
  for (const auto& [name, value] : target.labels) key += '\x1f' + name + '=' + value;
  // A reload gives the target a new config object: thresholds may differ.
  key += '\x1f' + std::to_string(reinterpret_cast<std::uintptr_t>(target.config));
  return key;
}

}  // namespace

void Evaluator::evaluate(const AlertSource& source, const std::vector<TargetFacts>& targets,
                         Clock::time_point now) {
  std::set<std::string> seen;
  std::set<std::string> live_targets;
  for (const auto& target : targets) {
    live_targets.insert(target.name);
    auto& target_memory = memory_[target.name];
    std::string facts = facts_key(target);
    const bool unchanged = target.input_generation != 0 &&
                           target_memory.input_generation == target.input_generation &&
                           target_memory.facts == facts;
    target_memory.input_generation = target.input_generation;
    target_memory.facts = std::move(facts);
    ++(unchanged ? work_.targets_unchanged : work_.targets_evaluated);
    for (const auto& rule : rule_table()) {
      // The common case of a fleet: an unchanged, healthy target. A rule that
      // found nothing last time finds nothing now; its parameters, lookups
      // and even its name's string are not touched.
      if (unchanged) {
        auto cached = target_memory.verdicts.find(rule.name);
        if (cached != target_memory.verdicts.end() && cached->second.holds_at(now) &&
            cached->second.findings.empty()) {
          ++work_.rules_reused;
          continue;
        }
      }
      const std::string rule_name(rule.name);
      const config::RuleOverride* override = nullptr;
      if (target.config != nullptr) {
        auto it = target.config->rules.find(rule_name);
        if (it != target.config->rules.end()) override = &it->second;
      }
      std::vector<std::string> unknown;
      const RuleParams params = resolve_params(rule, override, &unknown);
      for (const auto& key : unknown) {
        std::string known;
        for (const auto& spec : rule.thresholds)
          known += (known.empty() ? "" : ", ") + std::string(spec.key);
        warn_once("target " + target.name + ": rule " + rule_name + " has no threshold \"" + key +
                  "\" (ignored; known: " + (known.empty() ? "none" : known) + ")");
      }
      if (!params.enabled) {
        target_memory.verdicts.erase(rule_name);
        continue;
      }

      std::vector<Finding> findings;
      auto cached = target_memory.verdicts.find(rule_name);
      if (unchanged && cached != target_memory.verdicts.end() && cached->second.holds_at(now)) {
        findings = cached->second.findings;
        ++work_.rules_reused;
      } else {
        bool untracked_read = false;
        const TrackingSource tracking(source, untracked_read);
        RuleContext ctx{tracking, target, params, now, target_memory.per_rule[rule_name]};
        ++work_.rules_run;
        try {
          findings = rule.evaluate(ctx);
        } catch (const std::exception& e) {
          // A rule bug must not stop the others; its alerts resolve meanwhile.
          if (failed_rules_.insert(rule_name).second)
            spdlog::error("alerts: rule {} failed on target {}: {}", rule_name, target.name,
                          e.what());
          target_memory.verdicts.erase(rule_name);
          continue;
        }
        // A rule that keeps memory is about change over time: reused only
        // as long as it says it settled.
        std::optional<Clock::time_point> holds_until;
        if (!ctx.read_clock && !untracked_read && target_memory.per_rule[rule_name].empty())
          holds_until = Clock::time_point::max();
        else if (ctx.clock_reads > 0 && ctx.settled_reads >= ctx.clock_reads)
          holds_until = ctx.settled_until;
        target_memory.verdicts[rule_name] = Verdict{findings, holds_until};
      }

      for (auto& finding : findings) {
        Labels labels = target.labels;
        for (const auto& [name, value] : finding.labels)
          if (!value.empty()) set_label(labels, name, value);
        const std::string severity =
            finding.severity.empty() ? std::string(rule.severity) : finding.severity;
        set_label(labels, "alertname", rule_name);
        set_label(labels, "severity", severity);
        set_label(labels, "target", target.name);
        std::sort(labels.begin(), labels.end());
        const std::string key = fingerprint(labels);
        if (!seen.insert(key).second) continue;  // the same instance twice in one round

        auto [it, inserted] = alerts_.try_emplace(key);
        Alert& alert = it->second;
        if (inserted || alert.state == AlertState::resolved) {
          alert = Alert{};
          alert.rule = rule_name;
          alert.target = target.name;
          alert.severity = severity;
          alert.labels = labels;
          alert.runbook_url = runbook_url(runbook_base_, rule.name);
          alert.active_at = now;
          alert.state = AlertState::pending;
        }
        alert.value = finding.value;
        alert.for_duration = finding.for_duration.value_or(params.for_duration);
        alert.summary =
            render_template(substitute_thresholds(rule.summary, rule, params), labels, alert.value);
        alert.description = render_template(substitute_thresholds(rule.description, rule, params),
                                            labels, alert.value);
        if (alert.state == AlertState::pending && now - alert.active_at >= alert.for_duration) {
          alert.state = AlertState::firing;
          alert.fired_at = now;
          alert.evidence = evidence_text(source, target.name, finding, rule);
        } else if (alert.state == AlertState::firing && now - alert.fired_at <= kEvidenceSettle) {
          // A source may report a round after the metric that fired the rule
          // (the log line of a deadlock the counter already showed).
          auto fresh = evidence_text(source, target.name, finding, rule);
          if (evidence_sections(fresh) > evidence_sections(alert.evidence)) {
            alert.evidence = std::move(fresh);
            alert.last_sent.reset();  // news for Alertmanager: send at the next take_due
          }
        }
      }
    }
  }

  for (auto it = memory_.begin(); it != memory_.end();)
    it = live_targets.contains(it->first) ? std::next(it) : memory_.erase(it);

  for (auto it = alerts_.begin(); it != alerts_.end();) {
    Alert& alert = it->second;
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    if (alert.state == AlertState::pending) {
      it = alerts_.erase(it);  // never fired: back to inactive, nothing to tell anyone
      continue;
    }
    if (alert.state == AlertState::firing) {
      alert.state = AlertState::resolved;
      alert.resolved_at = now;
    }
    if (now - alert.resolved_at > kResolvedRetention)
      it = alerts_.erase(it);
    else
      ++it;
  }
}

std::vector<const Alert*> Evaluator::alerts() const {
  std::vector<const Alert*> out;
  for (const auto& [key, alert] : alerts_)
    if (alert.state != AlertState::resolved) out.push_back(&alert);
  for (const auto& [key, alert] : alerts_)
    if (alert.state == AlertState::resolved) out.push_back(&alert);
  return out;
}

std::size_t Evaluator::count(AlertState state) const {
  return static_cast<std::size_t>(std::count_if(
      alerts_.begin(), alerts_.end(), [state](const auto& e) { return e.second.state == state; }));
}

std::vector<Alert> Evaluator::take_due(Clock::time_point now,
                                       std::chrono::milliseconds resend_interval) {
  std::vector<Alert> due;
  for (auto& [key, alert] : alerts_) {
    if (alert.state == AlertState::pending) continue;
    bool send = !alert.last_sent || now - *alert.last_sent >= resend_interval;
    // A change of state is news: tell Alertmanager at once.
    if (alert.last_sent && alert.state == AlertState::resolved &&
        *alert.last_sent < alert.resolved_at)
      send = true;
    if (!send) continue;
    alert.last_sent = now;
    due.push_back(alert);
  }
  return due;
}

std::vector<prometheus::MetricFamily> Evaluator::collect_metrics() const {
  SampleSink sink;
  for (const auto& rule : rule_table()) {
    for (auto state : {AlertState::pending, AlertState::firing}) {
      const auto n = std::count_if(alerts_.begin(), alerts_.end(), [&](const auto& e) {
        return e.second.rule == rule.name && e.second.state == state;
      });
      sink.gauge("pgvigil_alerts", "Alerts of each rule by state, as the daemon evaluates them.",
                 {{"alertname", std::string(rule.name)}, {"state", std::string(to_string(state))}},
                 static_cast<double>(n));
    }
  }
  for (const auto& [key, alert] : alerts_) {
    if (alert.state == AlertState::resolved) continue;
    Labels labels = alert.labels;
    labels.emplace_back("alertstate", std::string(to_string(alert.state)));
    sink.gauge("pgvigil_alert_active",
               "1 for every pending or firing alert, with the alert's labels (like ALERTS).",
               labels, 1);
  }
  return sink.take();
}

}  // namespace pgvigil::alerts
