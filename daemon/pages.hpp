#pragma once
// The human- and machine-readable views of the daemon's state: the landing
// page and the JSON API. Pure functions of plain structs, so escaping is tested
// without a server.
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil {

struct TargetView {
  std::string name;
  bool up = false;
  std::string reason;   // failure reason, "none" when up
  std::string error;    // last connection error line (never holds a password)
  std::string version;  // empty until known
  std::string role;     // primary | replica | ""
  std::vector<std::string> probes;
};

std::string html_escape(std::string_view text);
std::string json_escape(std::string_view text);  // without the surrounding quotes
std::string render_landing_page(const std::vector<TargetView>& targets);
std::string render_targets_json(const std::vector<TargetView>& targets);

}  // namespace pgvigil
