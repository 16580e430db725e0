// [[file_sd]], [[http_sd]], [[patroni_sd]] and the shard settings: where targets come from
// besides the static [[target]]s (the sources run in collect/sd_sources).
#include <map>

#include "config/config_parser.hpp"
#include "config/text.hpp"

namespace pgvigil::config {
namespace {

// file_sd, file_sd_2, ...: the `source` label when no name is given.
std::string default_source_name(std::string_view kind, std::size_t index) {
  std::string name(kind);
  if (index > 0) name += "_" + std::to_string(index + 1);
  return name;
}

bool valid_source_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '-' || c == '.';
  });
}

// Fills in NAME, NAME_2, ... when `name` is empty; a message when the name
// cannot be a `source` label, else "".
std::string settle_source_name(std::string& name, std::string_view kind, std::size_t index) {
  if (name.empty()) name = default_source_name(kind, index);
  if (valid_source_name(name)) return {};
  return "invalid name " + quoted(name) + ": use letters, digits and _ - .";
}

}  // namespace

void ConfigParser::parse_file_sd(const Field& field) {
  FileSdConfig sd;
  sd.defined_at = source_name() + ":" + std::to_string(field.at.begin.line);
  bool has_files = false;
  dispatch(field,
           {
               {"name", [&](const Field& f) { read_string(f, sd.name); }},
               {"files",
                [&](const Field& f) {
                  has_files = true;
                  read_strings(f, sd.files);
                }},
               {"refresh_interval", [&](const Field& f) { read_duration(f, sd.refresh_interval); }},
           });
  if (!field.node.is_table()) return;
  if (!has_files) missing(field, "files");
  if (has_files && sd.files.empty()) error(field, "files: list at least one glob");
  if (auto problem = settle_source_name(sd.name, "file_sd", config_.file_sd.size());
      !problem.empty())
    error(field, std::move(problem));
  config_.file_sd.push_back(std::move(sd));
}

void ConfigParser::parse_http_sd(const Field& field) {
  HttpSdConfig sd;
  sd.defined_at = source_name() + ":" + std::to_string(field.at.begin.line);
  dispatch(field,
           {
               {"name", [&](const Field& f) { read_string(f, sd.name); }},
               {"url", [&](const Field& f) { read_http_url(f, sd.url); }},
               {"refresh_interval", [&](const Field& f) { read_duration(f, sd.refresh_interval); }},
               {"timeout", [&](const Field& f) { read_duration(f, sd.timeout); }},
               {"max_bytes",
                [&](const Field& f) {
                  if (auto bytes = as_size(f, 1)) sd.max_bytes = *bytes;
                }},
               {"basic_auth_user", [&](const Field& f) { read_string(f, sd.basic_auth_user); }},
               {"basic_auth_password_file",
                [&](const Field& f) { read_string(f, sd.basic_auth_password_file); }},
               {"bearer_token_file", [&](const Field& f) { read_string(f, sd.bearer_token_file); }},
           });
  if (!field.node.is_table()) return;
  if (sd.url.empty() && !field.node.as_table()->contains("url")) missing(field, "url");
  if (sd.basic_auth_user.empty() != sd.basic_auth_password_file.empty())
    error(field, "basic_auth_user and basic_auth_password_file must be set together");
  if (!sd.basic_auth_user.empty() && !sd.bearer_token_file.empty())
    error(field, "set either basic_auth_user or bearer_token_file, not both");
  if (auto problem = settle_source_name(sd.name, "http_sd", config_.http_sd.size());
      !problem.empty())
    error(field, std::move(problem));
  config_.http_sd.push_back(std::move(sd));
}

void ConfigParser::parse_patroni_sd(const Field& field) {
  PatroniSdConfig sd;
  sd.defined_at = source_name() + ":" + std::to_string(field.at.begin.line);
  bool has_endpoints = false;
  dispatch(field,
           {
               {"name", [&](const Field& f) { read_string(f, sd.name); }},
               {"etcd",
                [&](const Field& f) {
                  has_endpoints = true;
                  const auto* list = f.node.as_array();
                  if (!list) return error(f, "expected a list of etcd client URLs");
                  for (std::size_t i = 0; i < list->size(); ++i) {
                    std::string url;
                    read_http_url(element(f, i, *list->get(i)), url);
                    if (!url.empty()) sd.endpoints.push_back(std::move(url));
                  }
                }},
               {"namespace",
                [&](const Field& f) {
                  std::string value;
                  read_string(f, value);
                  const auto first = value.find_first_not_of('/');
                  const auto last = value.find_last_not_of('/');
                  if (first == std::string::npos) return error(f, "namespace must not be empty");
                  sd.namespace_path = "/" + value.substr(first, last - first + 1) + "/";
                }},
               {"scopes", [&](const Field& f) { read_strings(f, sd.scopes); }},
               {"refresh_interval", [&](const Field& f) { read_duration(f, sd.refresh_interval); }},
               {"timeout", [&](const Field& f) { read_duration(f, sd.timeout); }},
               {"max_bytes",
                [&](const Field& f) {
                  if (auto bytes = as_size(f, 1)) sd.max_bytes = *bytes;
                }},
               {"basic_auth_user", [&](const Field& f) { read_string(f, sd.basic_auth_user); }},
               {"basic_auth_password_file",
                [&](const Field& f) { read_string(f, sd.basic_auth_password_file); }},
           });
  if (!field.node.is_table()) return;
  if (!has_endpoints) missing(field, "etcd");
  if (has_endpoints && sd.endpoints.empty())
    error(field, "etcd: list at least one client URL, e.g. \"http://127.0.0.1:2379\"");
  if (sd.basic_auth_user.empty() != sd.basic_auth_password_file.empty())
    error(field, "basic_auth_user and basic_auth_password_file must be set together");
  if (auto problem = settle_source_name(sd.name, "patroni_sd", config_.patroni_sd.size());
      !problem.empty())
    error(field, std::move(problem));
  config_.patroni_sd.push_back(std::move(sd));
}

void ConfigParser::check_source_names() {
  std::map<std::string, std::string> seen;  // name -> where
  const auto note = [&](const std::string& name, const std::string& where) {
    const auto [first, inserted] = seen.emplace(name, where);
    if (!inserted)
      file_error("discovery source name " + quoted(name) + " at " + where + " is already used at " +
                 first->second + "; give one of them another name");
  };
  for (const auto& sd : config_.file_sd) note(sd.name, sd.defined_at);
  for (const auto& sd : config_.http_sd) note(sd.name, sd.defined_at);
  for (const auto& sd : config_.patroni_sd) note(sd.name, sd.defined_at);
}

void ConfigParser::check_shards(const toml::table& root) {
  if (config_.shard < config_.shards) return;
  const auto* node = root.get("shard");
  const toml::source_region at = node != nullptr ? node->source() : root.source();
  error(at, "shard",
        "shard " + std::to_string(config_.shard) + " is not below shards = " +
            std::to_string(config_.shards) + " (shards are numbered from 0)");
}

}  // namespace pgvigil::config
