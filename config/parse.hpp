#pragma once
// Loading pgvigil.toml into a Config. Nothing else in the daemon reads TOML.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/names.hpp"
#include "config/redaction.hpp"  // redact_conninfo, declared here before
#include "config/units.hpp"

namespace pgvigil::config {

struct ConfigError {
  std::string file;
  std::int64_t line = 0;  // 1-based; 0 when the error is about the whole file
  std::int64_t column = 0;
  std::string key;  // dotted path such as "target[1].name"; may be empty
  std::string message;

  // "FILE:LINE:COLUMN: KEY: MESSAGE" (the key part is omitted when empty).
  std::string to_string() const;
};

// config is set only when errors is empty. Errors are sorted by position.
// Warnings are complete lines ("FILE:LINE:COLUMN: KEY: MESSAGE").
struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;
};

// Reads and parses a file (blocking; meant for startup and reload). Besides
// parse_config_text's checks, warns when the file holds a secret and is
// readable by group or others.
LoadResult load_config_file(const std::string& path, const Vocabulary& names);

// source_name is used in errors and as Config::source_path.
// `names` are the probe and rule names the file may use (config/names.hpp).
LoadResult parse_config_text(std::string_view text, const std::string& source_name,
                             const Vocabulary& names);

// TOML text of the effective configuration (every default the config layer
// knows filled in), with every secret replaced by "<redacted>". Probe
// defaults live in probes/, so only the probe settings that were configured
// are shown.
std::string render_effective_config(const Config& config);

// One [[target]] block of TOML, secrets redacted, with `comment` as a line
// above it (check-config's list of discovered targets).
std::string render_target_block(const TargetConfig& target, std::string_view comment);

// "> 0", ">= 1.5", "!= 0": an operator (> >= < <= == !=) then a number.
std::optional<std::pair<Comparison, double>> parse_expect(std::string_view text);

}  // namespace pgvigil::config
