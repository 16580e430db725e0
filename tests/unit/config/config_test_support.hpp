#pragma once
// Small helpers shared by the config tests.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "alerts/rules.hpp"
#include "config/parse.hpp"

namespace pgvigil::config::testing {

// The real names (probe catalogue and rule table): these tests link
// pgvigil_alerts for them, as the daemon does.
inline LoadResult parse_config_text(std::string_view text, const std::string& source_name) {
  return config::parse_config_text(text, source_name, alerts::config_vocabulary());
}
inline LoadResult load_config_file(const std::string& path) {
  return config::load_config_file(path, alerts::config_vocabulary());
}

inline const ConfigError* find_error(const LoadResult& result, std::string_view key) {
  const auto it = std::find_if(result.errors.begin(), result.errors.end(),
                               [&](const ConfigError& e) { return e.key == key; });
  return it == result.errors.end() ? nullptr : &*it;
}

inline std::string all_errors(const LoadResult& result) {
  std::string text;
  for (const auto& error : result.errors) text += error.to_string() + "\n";
  return text;
}

inline std::string all_warnings(const LoadResult& result) {
  std::string text;
  for (const auto& warning : result.warnings) text += warning + "\n";
  return text;
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Parses text that must be valid; fails the test with the errors otherwise.
inline Config parse_valid(std::string_view text) {
  const LoadResult result = parse_config_text(text, "test.toml");
  INFO(all_errors(result));
  REQUIRE(result.errors.empty());
  REQUIRE(result.config.has_value());
  return *result.config;
}

}  // namespace pgvigil::config::testing
