#include "alerts/prometheus_rules.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <vector>

#include "alerts/rules.hpp"

namespace pgvigil::alerts {

namespace {

// YAML single-quoted scalar: only the quote itself needs escaping, so PromQL
// and Go templates stay readable.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// Target names are [A-Za-z0-9_.:-]+; only the dot is special in a regex, and
// the backslash is doubled for the PromQL string.
std::string target_regex(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += '|';
    for (char c : name) {
      if (c == '.' || c == '\\' || c == '|' || c == '*' || c == '+' || c == '?' || c == '(' ||
          c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '^' || c == '$')
        out += "\\\\";
      if (c == '"') out += '\\';
      out += c;
    }
  }
  return out;
}

// The inside of a PromQL double-quoted string.
std::string promql_string(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

struct RuleText {
  std::string name;
  std::string expr;
  std::chrono::milliseconds for_duration{0};
  std::string severity;
  std::string summary;
  std::string description;
};

void write_rule(std::string& out, const RuleText& rule, std::string_view runbook_base) {
  out += "      - alert: " + rule.name + "\n";
  out += "        expr: " + quoted(rule.expr) + "\n";
  if (rule.for_duration > std::chrono::milliseconds::zero())
    out +=
        "        for: " +
        format_threshold(std::chrono::duration<double>(rule.for_duration).count(), Unit::seconds) +
        "\n";
  out += "        labels:\n          severity: " + rule.severity + "\n";
  out += "        annotations:\n";
  out += "          summary: " + quoted(rule.summary) + "\n";
  out += "          description: " + quoted(rule.description) + "\n";
  out += "          runbook_url: " + quoted(runbook_url(runbook_base, rule.name)) + "\n";
}

const config::RuleOverride* find_override(const std::map<std::string, config::RuleOverride>& rules,
                                          std::string_view name) {
  auto it = rules.find(std::string(name));
  return it == rules.end() ? nullptr : &it->second;
}

// The rules of one table entry for one group of targets.
void emit(std::vector<RuleText>& out, const RuleDefinition& rule, const RuleParams& params,
          const std::string& matcher) {
  if (!params.enabled) return;
  PromContext ctx{params, matcher};
  for (const auto& alert : rule.prometheus(ctx)) {
    RuleText text;
    text.name = std::string(rule.name);
    text.expr = alert.expr;
    text.for_duration = alert.for_duration.value_or(params.for_duration);
    text.severity = alert.severity.empty() ? std::string(rule.severity) : alert.severity;
    text.summary = substitute_thresholds(rule.summary, rule, params);
    text.description = substitute_thresholds(rule.description, rule, params);
    out.push_back(std::move(text));
  }
}

std::vector<RuleText> rules_for(const RuleDefinition& rule, const config::Config& config) {
  std::vector<RuleText> out;
  const RuleParams global = resolve_params(rule, find_override(config.alerting.rules, rule.name));

  // Targets with their own parameters, grouped by identical parameters.
  std::vector<std::pair<RuleParams, std::vector<std::string>>> groups;
  std::vector<std::string> special;
  const auto add_target = [&](const std::string& name,
                              const std::map<std::string, config::RuleOverride>& overrides) {
    const RuleParams own = resolve_params(rule, find_override(overrides, rule.name));
    if (own == global) return;
    special.push_back(name);
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == own; });
    if (group == groups.end())
      groups.emplace_back(own, std::vector<std::string>{name});
    else
      group->second.push_back(name);
  };
  for (const auto& target : config.targets) add_target(target.name, target.rules);
  for (const auto& target : config.service_targets) add_target(target.name, target.rules);

  // Custom checks carry their own `for` and severity: one rule per check.
  std::vector<std::string> with_checks;
  if (rule.name == "PostgresCustomCheckFailed") {
    for (const auto& target : config.targets) {
      // [[target.check]]s and the expectations of [[collector]] columns.
      std::vector<config::CheckConfig> from_collectors;
      for (const auto& collector : target.collectors)
        for (const auto& column : collector.columns)
          if (column.has_expect) {
            config::CheckConfig check;
            check.name = collector.metric_name(column);
            check.for_duration = column.for_duration;
            check.severity = column.severity;
            from_collectors.push_back(std::move(check));
          }
      if (target.checks.empty() && from_collectors.empty()) continue;
      const RuleParams own = resolve_params(rule, find_override(target.rules, rule.name));
      with_checks.push_back(target.name);
      if (!own.enabled) continue;
      std::vector<const config::CheckConfig*> all;
      for (const auto& check : target.checks) all.push_back(&check);
      for (const auto& check : from_collectors) all.push_back(&check);
      for (const auto* check : all) {
        RuleText text;
        text.name = std::string(rule.name);
        text.expr = "pgvigil_check_ok{check=\"" + promql_string(check->name) + "\",target=\"" +
                    promql_string(target.name) + "\"} == 0";
        text.for_duration =
            check->for_duration > config::Duration::zero() ? check->for_duration : own.for_duration;
        text.severity = check->severity;
        text.summary = std::string(rule.summary);
        text.description = std::string(rule.description);
        out.push_back(std::move(text));
      }
    }
    special = with_checks;
    groups.clear();
  }

  emit(out, rule, global, special.empty() ? "" : "target!~\"" + target_regex(special) + "\"");
  for (const auto& [params, names] : groups)
    emit(out, rule, params, "target=~\"" + target_regex(names) + "\"");
  return out;
}

}  // namespace

std::string prometheus_runbook_base(const config::Config& config) {
  const auto& alerting = config.alerting;
  if (!alerting.runbook_base_url.empty()) return alerting.runbook_base_url;
  if (!alerting.external_url.empty()) {
    const auto& url = alerting.external_url;
    return (url.ends_with('/') ? url.substr(0, url.size() - 1) : url) + "/runbooks/";
  }
  // The pgvigil that Prometheus scraped serves the pages: its address is the
  // alert's instance label (a relative link if a rule aggregated it away).
  return std::string("{{ with $labels.instance }}") + (config.server.tls ? "https" : "http") +
         "://{{ . }}{{ end }}/runbooks/";
}

namespace {

// The header comment of a generated file: `command` is what regenerates it.
std::string generated_header(std::string_view command, const std::string& source) {
  return "# Prometheus alerting rules generated by `" + std::string(command) + "` from " + source +
         ".\n"
         "# The same conditions and thresholds the pgvigil daemon evaluates itself.\n"
         "# Do not edit: change the configuration and run `" +
         std::string(command) + "` again.\n";
}

// "groups:" and the two rule groups, at the top level of a YAML document.
std::string render_rule_groups(const config::Config& config) {
  std::string out = "groups:\n";
  std::vector<RuleText> main_rules;
  std::vector<RuleText> self_rules;
  for (const auto& rule : rule_table()) {
    auto texts = rules_for(rule, config);
    auto& into = rule.name.starts_with("Pgvigil") ? self_rules : main_rules;
    into.insert(into.end(), texts.begin(), texts.end());
  }
  // Prometheus watching pgvigil: a daemon that is not scraped evaluates
  // nothing anyone can see. Assumes the scrape job's name starts with pgvigil.
  self_rules.insert(
      self_rules.begin(),
      RuleText{std::string(kNotScrapedAlert), "up{job=~\"pgvigil.*\"} == 0",
               std::chrono::minutes(5), "critical",
               "pgvigil {{ $labels.instance }} is not being scraped",
               "Prometheus cannot scrape pgvigil at {{ $labels.instance }} (job "
               "{{ $labels.job }}): the PostgreSQL servers it watches are unmonitored from "
               "Prometheus' side."});
  // Discovery is the daemon's own business, not a target's: Prometheus-side
  // only. 15 minutes spans three of file_sd's default 5-minute re-reads.
  self_rules.insert(
      self_rules.begin() + 1,
      RuleText{std::string(kDiscoveryFailingAlert),
               "time() - pgvigil_sd_last_refresh_success_timestamp_seconds > 900",
               std::chrono::minutes(0), "warning",
               "Target discovery {{ $labels.source }} of pgvigil {{ $labels.instance }} has not "
               "refreshed for {{ $value | humanizeDuration }}",
               "pgvigil at {{ $labels.instance }} could not refresh its discovery source "
               "{{ $labels.source }} for {{ $value | humanizeDuration }}: it keeps monitoring the "
               "last good target list, so new databases are not watched and removed ones linger. "
               "pgvigil's log names the file and line, or the HTTP error."});

  const std::string base = prometheus_runbook_base(config);
  out += "  - name: pgvigil.rules\n    rules:\n";
  for (const auto& rule : main_rules) write_rule(out, rule, base);
  out += "  - name: pgvigil.selfmonitoring\n    rules:\n";
  for (const auto& rule : self_rules) write_rule(out, rule, base);
  return out;
}

// `text` with every non-empty line indented by `spaces`: a top-level YAML
// block becomes the value of a key.
std::string indented(std::string_view text, std::size_t spaces) {
  std::string out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    end = end == std::string_view::npos ? text.size() : end + 1;
    const auto line = text.substr(begin, end - begin);
    if (line != "\n") out.append(spaces, ' ');
    out += line;
    begin = end;
  }
  return out;
}

// A Kubernetes name as a YAML scalar: plain when YAML 1.1 reads it as a
// string, else quoted ("true", "1.5", "2024-01-31", "0x1f" are names too).
std::string name_scalar(std::string_view name) {
  constexpr std::array<std::string_view, 9> kOtherTypes = {"y",   "n",    "yes",   "no",  "on",
                                                           "off", "true", "false", "null"};
  const bool plain = !name.empty() && name.front() >= 'a' && name.front() <= 'z' &&
                     std::find(kOtherTypes.begin(), kOtherTypes.end(), name) == kOtherTypes.end();
  return plain ? std::string(name) : quoted(name);
}

}  // namespace

std::string render_prometheus_rules(const config::Config& config, const std::string& source) {
  return generated_header("pgvigil rules", source) + render_rule_groups(config);
}

bool valid_kubernetes_name(std::string_view name) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 253 || !alnum(name.front()) || !alnum(name.back()))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}

std::string render_prometheus_rule_object(const config::Config& config, const std::string& source,
                                          const std::string& name) {
  return generated_header("pgvigil rules --kubernetes " + name, source) +
         "apiVersion: monitoring.coreos.com/v1\n"
         "kind: PrometheusRule\n"
         "metadata:\n"
         "  name: " +
         name_scalar(name) +
         "\n"
         "  labels:\n"
         "    app.kubernetes.io/name: pgvigil\n"
         "spec:\n" +
         indented(render_rule_groups(config), 2);
}

}  // namespace pgvigil::alerts
