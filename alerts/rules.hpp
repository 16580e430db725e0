#pragma once
// The alert rules: one table, used two ways. Each rule knows how to evaluate
// itself over the daemon's latest probe results (AlertSource) and how to
// express the same condition in PromQL for `pgvigil rules`. Thresholds and
// `for` come from the runbooks and may be overridden per target in the config
// ([alerting.rules.NAME] / [target.rules.NAME], already merged by the loader).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/names.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil::alerts {

using Clock = std::chrono::system_clock;

// The page of an alert: base + "<AlertName>.md" (a '/' is added to a base
// without one). The daemon serves every page at /runbooks/ (daemon/runbooks.hpp).
std::string runbook_url(std::string_view base, std::string_view alertname);

// What a rule may read. The daemon implements it over MetricsStore and its
// target monitors; unit tests implement it with plain maps.
class AlertSource {
 public:
  virtual ~AlertSource() = default;
  // Every sample of `metric` the target's probes produced in their latest
  // round: (labels without target and without the target's labels, value).
  virtual std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                         std::string_view metric) const = 0;
  // Evidence text a probe wrote under `key` (e.g. "activity.top_sessions").
  virtual std::optional<std::string> evidence(const std::string& target,
                                              std::string_view key) const = 0;
  // False for a metric whose values move without the target's
  // input_generation moving (the scheduler's pgvigil_probe_*): a rule that
  // reads one runs every round.
  virtual bool tracked(std::string_view metric) const {
    (void)metric;
    return true;
  }
};

// The facts about one target that do not come from samples.
struct TargetFacts {
  std::string name;
  Labels labels;           // the target's configured labels
  bool up = false;         // liveness as the monitor sees it
  std::string reason;      // failure reason, "none" when up
  std::string last_error;  // last connection error line (never holds a password)
  const config::TargetConfig* config = nullptr;  // may be null in tests
  // Moves whenever anything the source returns for this target changes
  // (samples, evidence). 0: unknown, every rule runs every round.
  std::uint64_t input_generation = 0;
};

enum class Unit { seconds, bytes, ratio, count };

struct ThresholdSpec {
  std::string_view key;  // the key in [alerting.rules.NAME]
  double default_value;
  Unit unit;
  std::string_view meaning;  // for docs/alerts.md and --help style output
};

// A rule's effective parameters for one target: defaults + overrides.
struct RuleParams {
  bool enabled = true;
  std::chrono::milliseconds for_duration{0};
  std::map<std::string, double, std::less<>> thresholds;
  double get(std::string_view key) const;  // 0 when unknown (never for a declared key)
  bool operator==(const RuleParams&) const = default;
};

// One alert instance a rule wants active right now.
struct Finding {
  Labels labels;         // the rule's own labels (reason, datname, slot_name...)
  std::string severity;  // empty: the rule's severity
  double value = 0;      // $value in the templates
  // Overrides of the rule's `for` (custom checks carry their own).
  std::optional<std::chrono::milliseconds> for_duration;
  std::vector<std::string> evidence_keys;  // extra evidence keys for this instance
  std::string evidence;                    // extra evidence text computed by the rule
};

// Per (rule, target) memory for rules about change ("a counter rose"):
// survives between evaluations, starts empty.
using RuleMemory = std::map<std::string, double, std::less<>>;

struct RuleContext {
  const AlertSource& source;
  const TargetFacts& target;
  const RuleParams& params;
  Clock::time_point evaluated_at;
  RuleMemory& memory;
  // Set by reading the clock: the verdict may then change with no new input,
  // so the evaluator runs the rule every round instead of reusing it...
  mutable bool read_clock = false;
  mutable int clock_reads = 0;
  // ...unless every read of the clock was followed by settled(): the rule
  // knows that, with the same inputs, its verdict and its memory (and the
  // untracked values it read) stay as they are until `until`
  // (Clock::time_point::max(): until an input moves). An idle fleet's
  // memory-keeping rules then cost nothing per round.
  mutable int settled_reads = 0;
  mutable Clock::time_point settled_until = Clock::time_point::max();

  Clock::time_point now() const {
    read_clock = true;
    ++clock_reads;
    return evaluated_at;
  }
  void settled(Clock::time_point until) const {
    ++settled_reads;
    settled_until = std::min(settled_until, until);
  }
};

// The rule's condition over the Prometheus side: how to select a target
// group's series and what thresholds hold for that group.
struct PromContext {
  const RuleParams& params;
  std::string target_matcher;  // e.g. target=~"a|b" or "" for every target
  // `metric{matchers,target_matcher}` with empty parts left out.
  std::string select(std::string_view metric, std::string_view matchers = {}) const;
};

// Members that may be left out of a designated initializer have a default
// member initializer (which also keeps -Wmissing-field-initializers quiet).
struct PromAlert {
  std::string expr;
  std::string severity{};                                     // empty: the rule's severity
  std::optional<std::chrono::milliseconds> for_duration{};    // empty: params.for_duration
  std::vector<std::pair<std::string, std::string>> labels{};  // extra static labels
};

// Written with designated initializers (alerts/rules_*.cpp); thresholds and
// evidence_keys may be left out.
struct RuleDefinition {
  std::string_view name;
  std::string_view severity;  // "warning" | "critical"; rules with both set it per finding
  std::chrono::milliseconds default_for;
  std::vector<ThresholdSpec> thresholds{};
  // Prometheus template syntax, also rendered by the daemon (the subset in
  // alerts/template.hpp). Before either use, ${key} is replaced by the
  // threshold's formatted value.
  std::string_view summary;
  std::string_view description;
  std::string_view condition;                     // one line for docs/alerts.md
  std::string_view rule_labels;                   // labels the rule adds, for docs/alerts.md
  std::vector<std::string_view> evidence_keys{};  // probe evidence attached when firing
  std::function<std::vector<Finding>(const RuleContext&)> evaluate;
  std::function<std::vector<PromAlert>(const PromContext&)> prometheus;
};

// The rules, in the order of the exported rule file.
std::span<const RuleDefinition> rule_table();
// Their names: the config's list of valid rule names ([rules.NAME]).
std::vector<std::string_view> rule_names();
// Every name a config may refer to: the probe catalogue's and the rules'.
config::Vocabulary config_vocabulary();
const RuleDefinition* find_rule(std::string_view name);

// Defaults merged with a target's overrides for `rule`. Unknown threshold
// keys are reported through `unknown_keys` (the caller logs them once).
RuleParams resolve_params(const RuleDefinition& rule, const config::RuleOverride* override,
                          std::vector<std::string>* unknown_keys = nullptr);

// "5m", "80%", "10GiB", "3": a threshold as people write it.
std::string format_threshold(double value, Unit unit);
// Replaces ${key} by the formatted thresholds of `params`.
std::string substitute_thresholds(std::string_view text, const RuleDefinition& rule,
                                  const RuleParams& params);

}  // namespace pgvigil::alerts
