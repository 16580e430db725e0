#pragma once
// Internal to config/: the section parsers of pgvigil.toml, one class on top
// of the TOML walker. The members are defined by section: parse.cpp (root,
// defaults), parse_server.cpp ([server], [log]), parse_alerting.cpp
// ([probes], [alerting]) and parse_targets.cpp ([[target]] and its tables).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/names.hpp"
#include "config/parse.hpp"
#include "config/toml_walker.hpp"

namespace pgvigil::config {

class ConfigParser : public TomlWalker {
 public:
  ConfigParser(std::string source_name, const Vocabulary& names)
      : TomlWalker(std::move(source_name)), names_(names) {}

  LoadResult parse(std::string_view text);

 private:
  // parse.cpp
  void parse_root(const toml::table& root);
  void apply_global_defaults();
  void fold_global_defaults(TargetConfig& target) const;

  // parse_server.cpp
  void parse_server(const Field& field);
  void parse_listen(const Field& field);
  bool valid_listen_address(const Field& field, std::string_view address);
  void parse_tls(const Field& field);
  void parse_basic_auth(const Field& field);
  void parse_basic_auth_user(const Field& field, std::string_view user);
  void parse_log(const Field& field);

  // parse_alerting.cpp
  void parse_probe_map(const Field& field, std::map<std::string, ProbeSettings>& probes);
  void parse_probe_settings(const Field& field, ProbeSettings& settings);
  void parse_alerting(const Field& field);
  void parse_rule_map(const Field& field, std::map<std::string, RuleOverride>& rules);
  void parse_rule(const Field& field, RuleOverride& rule);
  std::optional<double> as_threshold(const Field& field);

  // parse_targets.cpp
  void parse_target(const Field& field);
  void parse_service_target(const Field& field, ServiceKind kind);
  void read_target_name(const Field& f, std::string& name,
                        std::optional<toml::source_region>& name_at);
  // Records the name (unique across kinds); false when missing or a duplicate.
  bool register_target_name(const Field& field, std::string& name,
                            const std::optional<toml::source_region>& name_at);
  void parse_target_template(const Field& field);
  // The keys of [[target]]; with template_match, those of [[target_template]]
  // (no server address or name, plus `match`). False when not a table.
  bool parse_target_fields(const Field& field, TargetConfig& target,
                           std::map<std::string, std::string>* template_match);
  // parse_discovery.cpp: [[file_sd]], [[http_sd]], shards.
  void parse_file_sd(const Field& field);
  void parse_http_sd(const Field& field);
  void parse_patroni_sd(const Field& field);
  // Source names are the `source` label and must differ across all kinds.
  void check_source_names();
  void check_shards(const toml::table& root);
  void parse_conninfo(const Field& field, TargetConfig& target);
  void parse_port(const Field& field, TargetConfig& target);
  void parse_connect_timeout(const Field& field, TargetConfig& target);
  void parse_labels(const Field& field, std::map<std::string, std::string>& labels);
  void parse_backup(const Field& field, TargetConfig& target);
  void parse_log_scan(const Field& field, TargetConfig& target);
  void parse_checks(const Field& field, TargetConfig& target);

  // parse_collectors.cpp
  void parse_collectors(const Field& field);
  void parse_collector(const Field& field);
  void parse_collector_columns(const Field& field, CollectorConfig& collector);
  void parse_collector_branch(const Field& field, CollectorConfig& collector);
  // collector_files: each glob's files, [[collector]] tables only.
  void load_collector_files();
  void parse_collector_file(const std::string& path);
  void parse_queries_yaml_file(const std::string& path);
  // Every collector checked against the others and the targets, then copied
  // to the targets it applies to.
  void resolve_collectors();
  bool probe_off_everywhere(const CollectorConfig& collector, std::string_view probe) const;

  const Vocabulary& names_;
  Config config_;
  std::map<std::string, std::uint32_t> target_name_lines_;
};

}  // namespace pgvigil::config
