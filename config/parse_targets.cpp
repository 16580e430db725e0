// [[target]] and the tables inside it: connection settings, labels, backups,
// the server log, custom checks; kind = "redis" targets have keys of their own.
#include <algorithm>
#include <charconv>

#include "config/config_parser.hpp"
#include "config/conninfo.hpp"
#include "config/host_port.hpp"
#include "config/redaction.hpp"
#include "config/text.hpp"

namespace pgvigil::config {
namespace {

bool valid_target_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

}  // namespace

bool ConfigParser::register_target_name(const Field& field, std::string& name,
                                        const std::optional<toml::source_region>& name_at) {
  if (!name_at) {
    missing(field, "name");
    return false;
  }
  if (name.empty()) return false;
  const auto [first, inserted] = target_name_lines_.emplace(name, name_at->begin.line);
  if (!inserted) {
    error(*name_at, field.path + ".name",
          "duplicate target name " + quoted(name) + " (first defined at line " +
              std::to_string(first->second) + ")");
    return false;
  }
  return true;
}

void ConfigParser::read_target_name(const Field& f, std::string& name,
                                    std::optional<toml::source_region>& name_at) {
  read_string(f, name);
  name_at = f.at;
  if (!name.empty() && !valid_target_name(name)) {
    error(f, "invalid target name " + quoted(name) + ": use letters, digits and _ . : -");
    name.clear();
  }
}

void ConfigParser::parse_target(const Field& field) {
  // The kind decides which keys are valid, so it is read before the rest.
  if (const auto* table = field.node.as_table()) {
    for (auto&& [key, node] : *table) {
      if (key.str() != "kind") continue;
      const Field kind_field = child(field.path, key, node);
      std::string value;
      read_choice(kind_field, value, {"postgres", "redis", "pgbouncer", "neo4j"});
      for (const ServiceKind kind :
           {ServiceKind::redis, ServiceKind::pgbouncer, ServiceKind::neo4j}) {
        if (value != to_string(kind)) continue;
        parse_service_target(field, kind);
        return;
      }
      if (value.empty()) return;  // reported by read_choice
    }
  }
  TargetConfig target;
  if (!parse_target_fields(field, target, nullptr)) return;
  config_.targets.push_back(std::move(target));
}

void ConfigParser::parse_target_template(const Field& field) {
  TargetTemplate entry;
  entry.defined_at = source_name() + ":" + std::to_string(field.at.begin.line);
  if (!parse_target_fields(field, entry.base, &entry.match)) return;
  config_.target_templates.push_back(std::move(entry));
}

bool ConfigParser::parse_target_fields(const Field& field, TargetConfig& target,
                                       std::map<std::string, std::string>* template_match) {
  const bool is_template = template_match != nullptr;
  std::optional<toml::source_region> name_at;
  std::optional<Field> password_field;
  // Where the server is comes from discovery, not from a template.
  const auto server_key = [&](std::string_view name, FieldHandler handle) {
    return KeyHandler{name, [&, name, handle](const Field& f) {
                        if (is_template) {
                          error(f, std::string(name) +
                                       " comes from discovery and cannot be set in a "
                                       "[[target_template]]");
                          return;
                        }
                        handle(f);
                      }};
  };

  const auto keyword = [&](std::string_view name) {
    return KeyHandler{name, [&, name](const Field& f) {
                        std::string value;
                        read_string(f, value);
                        if (!value.empty()) target.conn[std::string(name)] = value;
                      }};
  };
  const auto keyword_choice = [&](std::string_view name, std::vector<std::string_view> allowed) {
    return KeyHandler{name, [&, name, allowed](const Field& f) {
                        std::string value;
                        read_choice(f, value, allowed);
                        if (!value.empty()) target.conn[std::string(name)] = value;
                      }};
  };

  dispatch(
      field,
      {
          server_key("name", [&](const Field& f) { read_target_name(f, target.name, name_at); }),
          {"kind",
           [&](const Field& f) {
             // [[target]]: "postgres", read by parse_target.
             if (is_template)
               error(f,
                     "kind cannot be set in a [[target_template]]: discovered targets are "
                     "PostgreSQL servers");
           }},
          server_key("conninfo", [&](const Field& f) { parse_conninfo(f, target); }),
          server_key("host", keyword("host").handle),
          server_key("hostaddr", keyword("hostaddr").handle),
          server_key("port", [&](const Field& f) { parse_port(f, target); }),
          {"match",
           [&](const Field& f) {
             if (!is_template) {
               error(f, "match belongs in a [[target_template]]");
               return;
             }
             each_member(f, [&](const Field& item, std::string_view label) {
               std::string value;
               read_string(item, value, /*allow_empty=*/true);
               if (item.node.is_string()) (*template_match)[std::string(label)] = value;
             });
           }},
          keyword("dbname"),
          keyword("user"),
          keyword_choice("sslmode",
                         {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}),
          keyword("sslcert"),
          keyword("sslkey"),
          keyword("sslrootcert"),
          keyword("sslcrl"),
          {"connect_timeout", [&](const Field& f) { parse_connect_timeout(f, target); }},
          keyword_choice("target_session_attrs", {"any", "read-write", "read-only", "primary",
                                                  "standby", "prefer-standby"}),
          keyword("options"),
          keyword("passfile"),
          keyword("service"),
          keyword_choice("gssencmode", {"disable", "prefer", "require"}),
          {"application_name",
           [&](const Field& f) {
             error(f,
                   "application_name is set by pgvigil (it marks its own sessions) and "
                   "cannot be configured");
           }},
          {"password",
           [&](const Field& f) {
             if (const std::string* password = as_string(f)) {
               target.conn["password"] = *password;
               password_field.emplace(f);
               warn(f, "plaintext password in the config file; prefer password_file");
             }
           }},
          {"password_file", [&](const Field& f) { read_string(f, target.password_file); }},
          {"labels", [&](const Field& f) { parse_labels(f, target.labels); }},
          {"expected_databases",
           [&](const Field& f) { read_strings(f, target.expected_databases); }},
          {"expected_replicas",
           [&](const Field& f) {
             if (auto n = as_integer(f, 0, 1000)) target.expected_replicas = static_cast<int>(*n);
           }},
          {"rpo", [&](const Field& f) { read_duration(f, target.rpo); }},
          {"data_directory", [&](const Field& f) { read_string(f, target.data_directory); }},
          {"wal_directory", [&](const Field& f) { read_string(f, target.wal_directory); }},
          {"extra_paths", [&](const Field& f) { read_strings(f, target.extra_paths); }},
          server_key("patroni_url",
                     [&](const Field& f) {
                       read_http_url(f, target.patroni_url, UrlCredentials::allowed);
                     }),
          {"probes", [&](const Field& f) { parse_probe_map(f, target.probes); }},
          {"backup",
           [&](const Field& f) {
             each_table(f, [&](const Field& item) { parse_backup(item, target); });
           }},
          {"log", [&](const Field& f) { parse_log_scan(f, target); }},
          {"check", [&](const Field& f) { parse_checks(f, target); }},
          {"rules", [&](const Field& f) { parse_rule_map(f, target.rules); }},
      });
  if (!field.node.is_table()) return false;

  if (password_field && !target.password_file.empty()) {
    error(*password_field, "set either password or password_file, not both");
  }
  if (is_template) return true;
  register_target_name(field, target.name, name_at);
  return true;
}

std::string_view to_string(ServiceKind kind) noexcept {
  switch (kind) {
    case ServiceKind::redis:
      return "redis";
    case ServiceKind::pgbouncer:
      return "pgbouncer";
    case ServiceKind::neo4j:
      return "neo4j";
  }
  return "unknown";
}

namespace {

struct ServiceKindDefaults {
  std::uint16_t port;
  std::string_view database;  // empty: the kind has no database key
  std::string_view label;     // for messages: "Redis"
};

ServiceKindDefaults defaults_of(ServiceKind kind) {
  switch (kind) {
    case ServiceKind::redis:
      return {6379, "", "Redis"};
    case ServiceKind::pgbouncer:
      return {6432, "pgbouncer", "pgbouncer"};
    case ServiceKind::neo4j:
      return {7474, "neo4j", "Neo4j"};
  }
  return {0, "", ""};
}

// Neo4j's own rule is stricter (a letter first, 3-63 characters); this is
// what can go into a URL path unescaped.
bool valid_neo4j_database(std::string_view name) {
  for (char c : name)
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '.' && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

// A kind other than postgres: the keys its server needs, and nothing of
// libpq's, so a PostgreSQL key on such a target is an unknown key with its
// file:line.
void ConfigParser::parse_service_target(const Field& field, ServiceKind kind) {
  const auto defaults = defaults_of(kind);
  const std::string label(defaults.label);
  ServiceTargetConfig target;
  target.kind = kind;
  target.port = defaults.port;
  target.database = std::string(defaults.database);
  std::optional<toml::source_region> name_at;
  std::optional<Field> address_field;
  std::optional<Field> host_field;
  std::optional<Field> port_field;
  dispatch(field,
           {
               {"name", [&](const Field& f) { read_target_name(f, target.name, name_at); }},
               {"kind", [](const Field&) {}},  // read by parse_target
               {"address",
                [&](const Field& f) {
                  address_field.emplace(f);
                  const std::string* text = as_string(f);
                  if (text == nullptr) return;
                  auto parsed = parse_host_port(*text, defaults.port);
                  if (!parsed.value || parsed.value->host.empty() || parsed.value->port == 0) {
                    error(f, "invalid address " + quoted(*text) +
                                 ": expected \"host:port\", e.g. \"127.0.0.1:" +
                                 std::to_string(defaults.port) + "\"" +
                                 (parsed.error.empty() ? "" : " (" + parsed.error + ")"));
                    return;
                  }
                  target.host = parsed.value->host;
                  target.port = parsed.value->port;
                }},
               {"host",
                [&](const Field& f) {
                  host_field.emplace(f);
                  read_string(f, target.host);
                }},
               {"port",
                [&](const Field& f) {
                  port_field.emplace(f);
                  if (auto port = as_integer(f, 1, 65535))
                    target.port = static_cast<std::uint16_t>(*port);
                }},
               {"user", [&](const Field& f) { read_string(f, target.user); }},
               {"password",
                [&](const Field& f) {
                  error(f,
                        "a " + label + " password is read from password_file only (never inline)");
                }},
               {"password_file", [&](const Field& f) { read_string(f, target.password_file); }},
               {"database",
                [&](const Field& f) {
                  if (defaults.database.empty()) {
                    error(f, "a " + label + " target has no database key");
                    return;
                  }
                  read_string(f, target.database);
                  if (target.database.empty()) {
                    error(f, "database must not be empty");
                  } else if (kind == ServiceKind::neo4j && !valid_neo4j_database(target.database)) {
                    // It goes into URL paths (/db/<name>/...) as it is.
                    error(f, "invalid Neo4j database name " + quoted(target.database) +
                                 ": use ASCII letters, digits and . - _");
                  }
                }},
               {"timeout", [&](const Field& f) { read_duration(f, target.timeout); }},
               {"interval", [&](const Field& f) { read_duration(f, target.interval); }},
               {"tls",
                [&](const Field& f) {
                  // pgbouncer: sslmode=require instead of libpq's prefer.
                  if (kind == ServiceKind::neo4j || kind == ServiceKind::pgbouncer) {
                    read_bool(f, target.tls);
                    return;
                  }
                  error(f, "tls is not supported for " + label + " targets yet (docs/" +
                               std::string(to_string(kind)) +
                               ".md); use a local stunnel or a loopback/private network");
                }},
               {"labels", [&](const Field& f) { parse_labels(f, target.labels); }},
               {"rules", [&](const Field& f) { parse_rule_map(f, target.rules); }},
           });
  if (!field.node.is_table()) return;
  if (address_field && (host_field || port_field)) {
    error(*address_field, "set either address or host/port, not both");
  }
  if (!address_field && !host_field) missing(field, "address");
  if (kind == ServiceKind::redis && !target.user.empty() && target.password_file.empty()) {
    error(field, "user is set but password_file is not: Redis AUTH needs both for an ACL user");
  }
  // The admin console's login: without it libpq would use the daemon's OS user.
  if (kind == ServiceKind::pgbouncer && target.user.empty()) missing(field, "user");
  if (kind == ServiceKind::neo4j && target.user.empty() != target.password_file.empty()) {
    error(field,
          "set both user and password_file (basic auth), or neither (a server with auth disabled)");
  }
  register_target_name(field, target.name, name_at);
  config_.service_targets.push_back(std::move(target));
}

void ConfigParser::parse_conninfo(const Field& field, TargetConfig& target) {
  const std::string* conninfo = as_string(field);
  if (conninfo == nullptr) return;
  // Messages below never quote the conninfo: it may hold a password.
  bool has_password = false;
  if (is_conninfo_uri(*conninfo)) {
    for (const auto& param : uri_params(*conninfo)) {
      if (param.key == "application_name") {
        error(field, "application_name is set by pgvigil and cannot be part of conninfo");
        return;
      }
    }
    has_password = redact_conninfo(*conninfo) != *conninfo;
  } else {
    const ConninfoScan scan = scan_conninfo(*conninfo);
    if (!scan.ok) {
      error(field, "cannot parse conninfo near character " + std::to_string(scan.error_at + 1) +
                       ": expected keyword=value pairs or a postgresql:// URI");
      return;
    }
    for (const auto& pair : scan.pairs) {
      if (pair.keyword == "application_name") {
        error(field, "application_name is set by pgvigil and cannot be part of conninfo");
        return;
      }
      if (pair.keyword == "password") has_password = true;
    }
  }
  if (has_password) {
    warn(field, "conninfo contains a plaintext password; prefer password_file");
  }
  target.conninfo = *conninfo;
}

void ConfigParser::parse_port(const Field& field, TargetConfig& target) {
  if (field.node.is_integer()) {
    if (auto port = as_integer(field, 1, 65535)) target.conn["port"] = std::to_string(*port);
    return;
  }
  const auto* text = field.node.as_string();
  if (text == nullptr) {
    error(field, "expected a port number, got " + std::string(type_name(field.node)));
    return;
  }
  // libpq takes a comma-separated list, one port per host.
  std::string_view rest = text->get();
  bool ok = !rest.empty();
  while (ok) {
    const std::size_t comma = rest.find(',');
    const std::string_view port = rest.substr(0, comma);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    ok = !port.empty() && ec == std::errc{} && end == port.data() + port.size() && value >= 1 &&
         value <= 65535;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!ok) {
    error(field, "invalid port " + quoted(text->get()) + ": must be 1..65535");
    return;
  }
  target.conn["port"] = text->get();
}

void ConfigParser::parse_connect_timeout(const Field& field, TargetConfig& target) {
  if (field.node.is_integer()) {
    if (auto seconds = as_integer(field, 0, 86'400)) {
      target.conn["connect_timeout"] = std::to_string(*seconds);
    }
    return;
  }
  const auto* text = field.node.as_string();
  unsigned seconds = 0;
  if (text != nullptr) {
    const std::string& value = text->get();
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (!value.empty() && ec == std::errc{} && end == value.data() + value.size() &&
        seconds <= 86'400) {
      target.conn["connect_timeout"] = value;
      return;
    }
  }
  error(field, "expected a number of seconds (libpq connect_timeout), e.g. 5");
}

void ConfigParser::parse_labels(const Field& field, std::map<std::string, std::string>& labels) {
  each_member(field, [&](const Field& f, std::string_view label) {
    const bool valid_syntax = !label.empty() && (is_ascii_alpha(label[0]) || label[0] == '_') &&
                              std::all_of(label.begin(), label.end(), [](char c) {
                                return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_';
                              });
    if (!valid_syntax) {
      error(f, "invalid label name " + quoted(label) + ": use [a-zA-Z_][a-zA-Z0-9_]*");
      return;
    }
    if (label.substr(0, 2) == "__") {
      error(f, "label names starting with \"__\" are reserved by Prometheus");
      return;
    }
    if (label == "target") {
      error(f, "the \"target\" label is set by pgvigil from the target name");
      return;
    }
    std::string value;
    read_string(f, value, /*allow_empty=*/true);
    if (f.node.is_string()) labels[std::string(label)] = value;
  });
}

void ConfigParser::parse_backup(const Field& field, TargetConfig& target) {
  BackupConfig backup;
  dispatch(field, {
                      {"glob", [&](const Field& f) { read_string(f, backup.glob); }},
                      {"max_age", [&](const Field& f) { read_duration(f, backup.max_age); }},
                      {"min_size",
                       [&](const Field& f) {
                         if (auto bytes = as_size(f, 0)) backup.min_size_bytes = *bytes;
                       }},
                  });
  if (!field.node.is_table()) return;
  if (backup.glob.empty()) missing(field, "glob");
  target.backups.push_back(std::move(backup));
}

void ConfigParser::parse_log_scan(const Field& field, TargetConfig& target) {
  LogScanConfig log;
  dispatch(field, {
                      {"path", [&](const Field& f) { read_string(f, log.path); }},
                      {"max_bytes_per_round",
                       [&](const Field& f) {
                         if (auto bytes = as_size(f, 1)) log.max_bytes_per_round = *bytes;
                       }},
                  });
  if (!field.node.is_table()) return;
  if (log.path.empty()) missing(field, "path");
  target.log = std::move(log);
}

void ConfigParser::parse_checks(const Field& field, TargetConfig& target) {
  std::map<std::string, std::uint32_t> name_lines;
  each_table(field, [&](const Field& item) {
    CheckConfig check;
    std::optional<toml::source_region> name_at;
    bool has_expect = false;
    dispatch(item, {
                       {"name",
                        [&](const Field& f) {
                          read_string(f, check.name);
                          name_at = f.at;
                        }},
                       {"sql", [&](const Field& f) { read_string(f, check.sql); }},
                       {"database", [&](const Field& f) { read_string(f, check.database); }},
                       {"interval", [&](const Field& f) { read_duration(f, check.interval); }},
                       {"timeout", [&](const Field& f) { read_duration(f, check.timeout); }},
                       {"expect",
                        [&](const Field& f) {
                          has_expect = true;
                          const std::string* text = as_string(f);
                          if (text == nullptr) return;
                          const auto expectation = parse_expect(*text);
                          if (!expectation) {
                            error(f, "invalid expect " + quoted(*text) +
                                         ": use an operator (>, >=, <, <=, ==, !=) and a number, "
                                         "e.g. \"> 0\"");
                            return;
                          }
                          check.comparison = expectation->first;
                          check.threshold = expectation->second;
                          check.expect = std::string(trim(*text));
                        }},
                       {"for", [&](const Field& f) { read_duration(f, check.for_duration, true); }},
                       {"severity",
                        [&](const Field& f) {
                          read_choice(f, check.severity, {"info", "warning", "critical"});
                        }},
                   });
    if (!item.node.is_table()) return;
    if (!name_at) missing(item, "name");
    if (check.sql.empty() && !item.node.as_table()->contains("sql")) missing(item, "sql");
    if (!has_expect) missing(item, "expect");
    if (name_at && !check.name.empty()) {
      const auto [first, inserted] = name_lines.emplace(check.name, name_at->begin.line);
      if (!inserted) {
        error(*name_at, item.path + ".name",
              "duplicate check name " + quoted(check.name) +
                  " in this target (first defined at line " + std::to_string(first->second) + ")");
      }
    }
    target.checks.push_back(std::move(check));
  });
}

}  // namespace pgvigil::config
