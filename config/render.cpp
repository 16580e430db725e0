// render_effective_config: the Config back as TOML, for `pgvigil config` style
// inspection and for logs at startup. Secrets never leave as plain text.
#include <toml++/toml.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "config/parse.hpp"
#include "config/redaction.hpp"

namespace pgvigil::config {
namespace {

toml::array string_array(const std::vector<std::string>& values) {
  toml::array array;
  for (const auto& value : values) array.push_back(value);
  return array;
}

void insert_if_set(toml::table& table, std::string_view key, const std::string& value) {
  if (!value.empty()) table.insert_or_assign(key, value);
}

toml::table render_probe(const ProbeSettings& probe) {
  toml::table table;
  if (probe.enabled) table.insert_or_assign("enabled", *probe.enabled);
  if (probe.interval) table.insert_or_assign("interval", format_duration(*probe.interval));
  if (probe.timeout) table.insert_or_assign("timeout", format_duration(*probe.timeout));
  if (probe.top_n) table.insert_or_assign("top_n", static_cast<std::int64_t>(*probe.top_n));
  if (!probe.include_databases.empty()) {
    table.insert_or_assign("include_databases", string_array(probe.include_databases));
  }
  if (!probe.exclude_databases.empty()) {
    table.insert_or_assign("exclude_databases", string_array(probe.exclude_databases));
  }
  return table;
}

toml::table render_probes(const std::map<std::string, ProbeSettings>& probes) {
  toml::table table;
  for (const auto& [name, probe] : probes) table.insert_or_assign(name, render_probe(probe));
  return table;
}

toml::table render_rules(const std::map<std::string, RuleOverride>& rules) {
  toml::table table;
  for (const auto& [name, rule] : rules) {
    toml::table entry;
    if (rule.enabled) entry.insert_or_assign("enabled", *rule.enabled);
    if (rule.for_duration) entry.insert_or_assign("for", format_duration(*rule.for_duration));
    for (const auto& [threshold, value] : rule.thresholds) entry.insert_or_assign(threshold, value);
    table.insert_or_assign(name, std::move(entry));
  }
  return table;
}

toml::table render_server(const ServerConfig& server) {
  toml::table table;
  table.insert_or_assign("listen", string_array(server.listen));
  table.insert_or_assign("max_connections", static_cast<std::int64_t>(server.max_connections));
  table.insert_or_assign("max_request_size", format_size(server.max_request_bytes));
  table.insert_or_assign("read_timeout", format_duration(server.read_timeout));
  table.insert_or_assign("idle_timeout", format_duration(server.idle_timeout));
  table.insert_or_assign("auth_exempt_health", server.auth_exempt_health);
  if (server.tls) {
    toml::table tls;
    insert_if_set(tls, "cert_file", server.tls->cert_file);
    insert_if_set(tls, "key_file", server.tls->key_file);
    insert_if_set(tls, "client_ca_file", server.tls->client_ca_file);
    tls.insert_or_assign("client_auth", server.tls->client_auth);
    tls.insert_or_assign("min_version", server.tls->min_version);
    table.insert_or_assign("tls", std::move(tls));
  }
  if (!server.basic_auth_users.empty()) {
    toml::table users;
    for (const auto& [user, hash] : server.basic_auth_users)
      users.insert_or_assign(user, kRedacted);
    table.insert_or_assign("basic_auth", toml::table{{"users", std::move(users)}});
  }
  return table;
}

toml::table render_alerting(const AlertingConfig& alerting) {
  toml::table table;
  table.insert_or_assign("alertmanagers", string_array(alerting.alertmanagers));
  table.insert_or_assign("evaluation_interval", format_duration(alerting.evaluation_interval));
  table.insert_or_assign("resend_interval", format_duration(alerting.resend_interval));
  table.insert_or_assign("send_timeout", format_duration(alerting.send_timeout));
  insert_if_set(table, "external_url", alerting.external_url);
  insert_if_set(table, "runbook_base_url", alerting.runbook_base_url);
  insert_if_set(table, "basic_auth_user", alerting.basic_auth_user);
  insert_if_set(table, "basic_auth_password_file", alerting.basic_auth_password_file);
  insert_if_set(table, "bearer_token_file", alerting.bearer_token_file);
  if (!alerting.rules.empty()) table.insert_or_assign("rules", render_rules(alerting.rules));
  return table;
}

toml::table render_target(const TargetConfig& target) {
  toml::table table;
  table.insert_or_assign("name", target.name);
  if (!target.conninfo.empty())
    table.insert_or_assign("conninfo", redact_conninfo(target.conninfo));
  for (const auto& [keyword, value] : target.conn) {
    table.insert_or_assign(keyword, keyword == "password" ? std::string(kRedacted) : value);
  }
  insert_if_set(table, "password_file", target.password_file);
  toml::table labels;
  for (const auto& [name, value] : target.labels) labels.insert_or_assign(name, value);
  table.insert_or_assign("labels", std::move(labels));
  table.insert_or_assign("expected_databases", string_array(target.expected_databases));
  if (target.expected_replicas) {
    table.insert_or_assign("expected_replicas",
                           static_cast<std::int64_t>(*target.expected_replicas));
  }
  table.insert_or_assign("rpo", format_duration(target.rpo));
  if (target.data_directory) table.insert_or_assign("data_directory", *target.data_directory);
  if (target.wal_directory) table.insert_or_assign("wal_directory", *target.wal_directory);
  table.insert_or_assign("extra_paths", string_array(target.extra_paths));
  insert_if_set(table, "patroni_url", redact_url_userinfo(target.patroni_url));
  if (!target.probes.empty()) table.insert_or_assign("probes", render_probes(target.probes));
  if (!target.backups.empty()) {
    toml::array backups;
    for (const auto& backup : target.backups) {
      backups.push_back(toml::table{{"glob", backup.glob},
                                    {"max_age", format_duration(backup.max_age)},
                                    {"min_size", format_size(backup.min_size_bytes)}});
    }
    table.insert_or_assign("backup", std::move(backups));
  }
  if (target.log) {
    table.insert_or_assign(
        "log", toml::table{{"path", target.log->path},
                           {"max_bytes_per_round", format_size(target.log->max_bytes_per_round)}});
  }
  if (!target.checks.empty()) {
    toml::array checks;
    for (const auto& check : target.checks) {
      toml::table entry{{"name", check.name},
                        {"sql", check.sql},
                        {"interval", format_duration(check.interval)},
                        {"timeout", format_duration(check.timeout)},
                        {"expect", check.expect},
                        {"for", format_duration(check.for_duration)},
                        {"severity", check.severity}};
      insert_if_set(entry, "database", check.database);
      checks.push_back(std::move(entry));
    }
    table.insert_or_assign("check", std::move(checks));
  }
  if (!target.rules.empty()) table.insert_or_assign("rules", render_rules(target.rules));
  return table;
}

// toml++ (as packaged) prints floats with 17 significant digits, so 0.8
// shows as 0.80000000000000004; its relaxed mode uses 6 digits, which is
// lossy for values like 12345678901. Relax only when nothing is lost.
bool thresholds_print_exactly_when_relaxed(const Config& config) {
  const auto exact = [](const std::map<std::string, RuleOverride>& rules) {
    for (const auto& [name, rule] : rules) {
      for (const auto& [threshold, value] : rule.thresholds) {
        char text[32];
        std::snprintf(text, sizeof text, "%.6g", value);
        if (std::strtod(text, nullptr) != value) return false;
      }
    }
    return true;
  };
  if (!exact(config.alerting.rules)) return false;
  return std::all_of(config.targets.begin(), config.targets.end(),
                     [&](const TargetConfig& target) { return exact(target.rules); }) &&
         std::all_of(config.service_targets.begin(), config.service_targets.end(),
                     [&](const ServiceTargetConfig& target) { return exact(target.rules); });
}

// A target of another kind holds no secret in the config (the password lives
// only in password_file), so nothing here needs redaction; the file's path is
// shown.
toml::table render_service_target(const ServiceTargetConfig& target) {
  toml::table table;
  table.insert_or_assign("name", target.name);
  table.insert_or_assign("kind", std::string(to_string(target.kind)));
  const bool v6 = target.host.find(':') != std::string::npos;
  table.insert_or_assign(
      "address", (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port));
  insert_if_set(table, "user", target.user);
  insert_if_set(table, "password_file", target.password_file);
  insert_if_set(table, "database", target.database);
  if (target.tls) table.insert_or_assign("tls", true);
  table.insert_or_assign("timeout", format_duration(target.timeout));
  table.insert_or_assign("interval", format_duration(target.interval));
  toml::table labels;
  for (const auto& [name, value] : target.labels) labels.insert_or_assign(name, value);
  if (!labels.empty()) table.insert_or_assign("labels", std::move(labels));
  if (!target.rules.empty()) table.insert_or_assign("rules", render_rules(target.rules));
  return table;
}

}  // namespace

// Every collector, inline and included, as [[collector]] tables.
static toml::table render_collector(const CollectorConfig& c) {
  const auto strings = [](const std::vector<std::string>& values) {
    toml::array array;
    for (const auto& v : values) array.push_back(v);
    return array;
  };
  toml::table table{{"name", c.name},
                    {"interval", format_duration(c.interval)},
                    {"timeout", format_duration(c.timeout)},
                    {"max_rows", static_cast<std::int64_t>(c.max_rows)},
                    {"max_series", static_cast<std::int64_t>(c.max_series)}};
  if (!c.databases.empty()) table.insert_or_assign("databases", strings(c.databases));
  if (!c.exclude_databases.empty())
    table.insert_or_assign("exclude_databases", strings(c.exclude_databases));
  if (!c.targets.empty()) table.insert_or_assign("targets", strings(c.targets));
  toml::array branches;
  for (const auto& b : c.branches) {
    toml::table branch{{"sql", b.sql}};
    if (b.min_version != 0) branch.insert_or_assign("min_version", std::int64_t{b.min_version});
    if (b.max_version != 0) branch.insert_or_assign("max_version", std::int64_t{b.max_version});
    branches.push_back(std::move(branch));
  }
  table.insert_or_assign("branch", std::move(branches));
  toml::table columns;
  for (const auto& column : c.columns) {
    static constexpr const char* kUsage[] = {"label", "gauge", "counter", "discard"};
    toml::table entry{{"usage", kUsage[static_cast<int>(column.usage)]}};
    if (!column.help.empty()) entry.insert_or_assign("help", column.help);
    if (column.has_expect) {
      entry.insert_or_assign("expect", column.expect);
      entry.insert_or_assign("for", format_duration(column.for_duration));
      entry.insert_or_assign("severity", column.severity);
    }
    columns.insert_or_assign(column.name, std::move(entry));
  }
  table.insert_or_assign("columns", std::move(columns));
  return table;
}

std::string render_target_block(const TargetConfig& target, std::string_view comment) {
  toml::array one;
  one.push_back(render_target(target));
  toml::table root{{"target", std::move(one)}};
  std::ostringstream out;
  out << "# ";
  for (const char c : comment) out << (static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  out << "\n" << toml::toml_formatter{root} << "\n";
  return out.str();
}

std::string render_effective_config(const Config& config) {
  toml::table root;
  root.insert_or_assign("state_directory", config.state_directory);
  root.insert_or_assign("max_connection_attempts",
                        static_cast<std::int64_t>(config.max_connection_attempts));
  root.insert_or_assign("server", render_server(config.server));
  root.insert_or_assign("log",
                        toml::table{{"level", config.log.level}, {"format", config.log.format}});
  if (!config.probes.empty()) root.insert_or_assign("probes", render_probes(config.probes));
  root.insert_or_assign("alerting", render_alerting(config.alerting));
  toml::array targets;
  for (const auto& target : config.targets) targets.push_back(render_target(target));
  for (const auto& target : config.service_targets)
    targets.push_back(render_service_target(target));
  if (!targets.empty()) root.insert_or_assign("target", std::move(targets));
  if (config.shards > 1) {
    root.insert_or_assign("shards", static_cast<std::int64_t>(config.shards));
    root.insert_or_assign("shard", static_cast<std::int64_t>(config.shard));
  }
  toml::array templates;
  for (const auto& entry : config.target_templates) {
    toml::table table = render_target(entry.base);
    table.erase("name");
    toml::table match;
    for (const auto& [label, value] : entry.match) match.insert_or_assign(label, value);
    table.insert_or_assign("match", std::move(match));
    templates.push_back(std::move(table));
  }
  if (!templates.empty()) root.insert_or_assign("target_template", std::move(templates));
  toml::array file_sd;
  for (const auto& sd : config.file_sd) {
    toml::array files;
    for (const auto& glob : sd.files) files.push_back(glob);
    file_sd.push_back(toml::table{{"name", sd.name},
                                  {"files", std::move(files)},
                                  {"refresh_interval", format_duration(sd.refresh_interval)}});
  }
  if (!file_sd.empty()) root.insert_or_assign("file_sd", std::move(file_sd));
  toml::array http_sd;
  for (const auto& sd : config.http_sd) {
    toml::table table{{"name", sd.name},
                      {"url", redact_url_userinfo(sd.url)},
                      {"refresh_interval", format_duration(sd.refresh_interval)},
                      {"timeout", format_duration(sd.timeout)},
                      {"max_bytes", static_cast<std::int64_t>(sd.max_bytes)}};
    insert_if_set(table, "basic_auth_user", sd.basic_auth_user);
    insert_if_set(table, "basic_auth_password_file", sd.basic_auth_password_file);
    insert_if_set(table, "bearer_token_file", sd.bearer_token_file);
    http_sd.push_back(std::move(table));
  }
  if (!http_sd.empty()) root.insert_or_assign("http_sd", std::move(http_sd));
  toml::array patroni_sd;
  for (const auto& sd : config.patroni_sd) {
    toml::array endpoints;
    for (const auto& url : sd.endpoints) endpoints.push_back(redact_url_userinfo(url));
    toml::table table{{"name", sd.name},
                      {"etcd", std::move(endpoints)},
                      {"namespace", sd.namespace_path},
                      {"scopes", string_array(sd.scopes)},
                      {"refresh_interval", format_duration(sd.refresh_interval)},
                      {"timeout", format_duration(sd.timeout)},
                      {"max_bytes", static_cast<std::int64_t>(sd.max_bytes)}};
    insert_if_set(table, "basic_auth_user", sd.basic_auth_user);
    insert_if_set(table, "basic_auth_password_file", sd.basic_auth_password_file);
    patroni_sd.push_back(std::move(table));
  }
  if (!patroni_sd.empty()) root.insert_or_assign("patroni_sd", std::move(patroni_sd));
  toml::array collectors;
  for (const auto& collector : config.collectors) collectors.push_back(render_collector(collector));
  if (!collectors.empty()) root.insert_or_assign("collector", std::move(collectors));

  std::ostringstream out;
  std::string source;
  for (const char c : config.source_path) source += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  out << "# Effective pgvigil configuration";
  if (!source.empty()) out << " loaded from " << source;
  out << "\n# Defaults are filled in; secrets are shown as \"" << kRedacted << "\".\n\n";
  auto flags = toml::toml_formatter::default_flags;
  if (thresholds_print_exactly_when_relaxed(config)) {
    flags |= toml::format_flags::relaxed_float_precision;
  }
  out << toml::toml_formatter{root, flags} << "\n";
  return out.str();
}

}  // namespace pgvigil::config
