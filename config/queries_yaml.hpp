#pragma once
// postgres_exporter's queries.yaml (--extend.query-path) read as it is: each
// top-level entry becomes a [[collector]] whose metrics keep postgres_exporter's
// names (<namespace>_<column>). What has no pgvigil equivalent (MAPPEDMETRIC,
// DURATION, a runonserver range that is not a plain version comparison) is
// reported by name at load, never dropped silently. docs/collectors.md.
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/parse.hpp"

namespace pgvigil::config {

struct QueriesYaml {
  std::vector<CollectorConfig> collectors;
  std::vector<ConfigError> errors;  // the file cannot be used as it is
  std::vector<ConfigError> notes;   // mapped with a loss: said by name (warnings at load)
};

// source_name is used in errors and in each collector's defined_at.
QueriesYaml parse_queries_yaml(std::string_view text, const std::string& source_name);

// ">=10.0.0 <12.0.0" -> [100000, 119999]; false when the range is not a
// conjunction of >, >=, <, <= and = on versions.
bool parse_runonserver(std::string_view range, int& min_version, int& max_version);

// The [[collector]] tables that say the same (pgvigil convert-queries).
std::string render_collectors_toml(const std::vector<CollectorConfig>& collectors);

}  // namespace pgvigil::config
