#pragma once
// The machine-readable views of the daemon's state (the JSON API) and the
// escaping every page uses (the landing page is daemon/status_page.*). Pure
// functions of plain structs, so escaping is tested without a server.
#include <string>
#include <string_view>
#include <utility>
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

// One alert as the API and the landing page show it (times are RFC 3339;
// empty when not reached yet).
struct AlertView {
  std::string alertname;
  std::string state;  // pending | firing | resolved
  std::string severity;
  std::string target;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string summary;
  std::string description;
  std::string runbook_url;
  std::string evidence;
  std::string active_at;  // condition true since
  std::string fired_at;
  std::string resolved_at;
  double value = 0;
};

std::string html_escape(std::string_view text);
std::string json_escape(std::string_view text);  // without the surrounding quotes
std::string render_targets_json(const std::vector<TargetView>& targets);
// GET /api/v1/alerts: {"alerts":[{labels, annotations, state, activeAt...}]}.
std::string render_alerts_json(const std::vector<AlertView>& alerts);

}  // namespace pgvigil
