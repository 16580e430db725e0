#pragma once
// Prometheus' service discovery formats: file_sd files (a JSON or YAML list
// of {targets: ["host:port", ...], labels: {...}}) and http_sd replies (the
// same list, JSON only). Pure: text in, entries or an error naming where out.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil::config {

// One "host:port" of a group, with the group's labels.
struct SdEntry {
  std::string address;
  std::map<std::string, std::string> labels;
  std::string origin;  // "FILE:LINE" (or "URL:LINE") of the address
  bool operator==(const SdEntry&) const = default;
};

struct SdParseResult {
  std::vector<SdEntry> entries;
  std::vector<std::string> errors;  // "ORIGIN:LINE:COLUMN: message"; entries is empty then
};

enum class SdSyntax { json, yaml };

// Files ending in .json are JSON; .yml and .yaml are YAML (as in Prometheus).
// An empty document is an empty list. A problem anywhere rejects the whole
// text, so a half-written file never removes targets.
SdParseResult parse_sd_text(std::string_view text, SdSyntax syntax, const std::string& origin);

// The syntax a file_sd path implies, or nothing for an unknown extension.
bool sd_syntax_for_path(std::string_view path, SdSyntax& syntax);

}  // namespace pgvigil::config
