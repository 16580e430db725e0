// [probes.NAME] and [alerting] (with [alerting.rules.NAME]): the defaults for
// every target; a target's own probes and rules tables use the same readers.
#include <cmath>

#include "config/config_parser.hpp"
#include "config/units.hpp"

namespace pgvigil::config {

void ConfigParser::parse_probe_map(const Field& field,
                                   std::map<std::string, ProbeSettings>& probes) {
  each_named_member(field, names_.probes, "probe", [&](const Field& f, std::string_view name) {
    parse_probe_settings(f, probes[std::string(name)]);
  });
}

void ConfigParser::parse_probe_settings(const Field& field, ProbeSettings& settings) {
  dispatch(field, {
                      {"enabled", [&](const Field& f) { settings.enabled = as_bool(f); }},
                      {"interval", [&](const Field& f) { read_duration(f, settings.interval); }},
                      {"timeout", [&](const Field& f) { read_duration(f, settings.timeout); }},
                      {"top_n",
                       [&](const Field& f) {
                         if (auto n = as_integer(f, 1, 100'000)) {
                           settings.top_n = static_cast<std::size_t>(*n);
                         }
                       }},
                      {"include_databases",
                       [&](const Field& f) { read_strings(f, settings.include_databases); }},
                      {"exclude_databases",
                       [&](const Field& f) { read_strings(f, settings.exclude_databases); }},
                  });
}

void ConfigParser::parse_alerting(const Field& field) {
  AlertingConfig& alerting = config_.alerting;
  dispatch(
      field,
      {
          {"alertmanagers",
           [&](const Field& f) {
             const auto urls = as_strings(f);
             if (!urls) return;
             const auto* array = f.node.as_array();
             bool ok = true;
             for (std::size_t i = 0; i < urls->size(); ++i) {
               // Credentials belong in basic_auth_password_file: a URL
               // ends up in logs and metric labels.
               auto problem = http_url_problem((*urls)[i], UrlCredentials::refused);
               if (!problem.empty()) {
                 error(element(f, i, *array->get(i)), std::move(problem));
                 ok = false;
               }
             }
             if (ok) alerting.alertmanagers = *urls;
           }},
          {"evaluation_interval",
           [&](const Field& f) { read_duration(f, alerting.evaluation_interval); }},
          {"resend_interval", [&](const Field& f) { read_duration(f, alerting.resend_interval); }},
          {"send_timeout", [&](const Field& f) { read_duration(f, alerting.send_timeout); }},
          {"external_url", [&](const Field& f) { read_http_url(f, alerting.external_url); }},
          {"runbook_base_url",
           [&](const Field& f) { read_http_url(f, alerting.runbook_base_url); }},
          {"basic_auth_user", [&](const Field& f) { read_string(f, alerting.basic_auth_user); }},
          {"basic_auth_password_file",
           [&](const Field& f) { read_string(f, alerting.basic_auth_password_file); }},
          {"bearer_token_file",
           [&](const Field& f) { read_string(f, alerting.bearer_token_file); }},
          {"rules", [&](const Field& f) { parse_rule_map(f, alerting.rules); }},
      });
  if (!field.node.is_table()) return;
  if (alerting.basic_auth_user.empty() != alerting.basic_auth_password_file.empty()) {
    error(field, "basic_auth_user and basic_auth_password_file must be set together");
  }
  if (!alerting.basic_auth_user.empty() && !alerting.bearer_token_file.empty()) {
    error(field, "set either basic_auth_user or bearer_token_file, not both");
  }
}

void ConfigParser::parse_rule_map(const Field& field, std::map<std::string, RuleOverride>& rules) {
  each_named_member(field, names_.rules, "rule", [&](const Field& f, std::string_view name) {
    parse_rule(f, rules[std::string(name)]);
  });
}

void ConfigParser::parse_rule(const Field& field, RuleOverride& rule) {
  each_member(field, [&](const Field& f, std::string_view key) {
    if (key == "enabled") {
      rule.enabled = as_bool(f);
    } else if (key == "for") {
      read_duration(f, rule.for_duration, /*allow_zero=*/true);
    } else if (auto threshold = as_threshold(f)) {
      rule.thresholds[std::string(key)] = *threshold;
    }
  });
}

// Thresholds are kept in base units so rules compare like with like.
std::optional<double> ConfigParser::as_threshold(const Field& field) {
  if (const auto* integer = field.node.as_integer()) return static_cast<double>(integer->get());
  if (const auto* number = field.node.as_floating_point()) {
    if (std::isfinite(number->get())) return number->get();
    error(field, "threshold must be a finite number");
    return std::nullopt;
  }
  if (const auto* text = field.node.as_string()) {
    if (auto ratio = parse_percent(text->get())) return *ratio;
    if (auto duration = parse_duration(text->get())) {
      return static_cast<double>(duration->count()) / 1000.0;
    }
    if (auto bytes = parse_size(text->get())) return static_cast<double>(*bytes);
    error(field, "invalid threshold " + quoted(text->get()) +
                     ": use a number, a duration (\"30s\"), a size (\"10GB\") or a percent "
                     "(\"80%\")");
    return std::nullopt;
  }
  error(field, "expected a threshold (number, duration, size or percent string), got " +
                   std::string(type_name(field.node)));
  return std::nullopt;
}

}  // namespace pgvigil::config
