#include "daemon/pages.hpp"

#include <cstdio>

namespace pgvigil {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string render_targets_json(const std::vector<TargetView>& targets) {
  std::string json = "{\"targets\":[";
  bool first = true;
  for (const auto& t : targets) {
    if (!first) json += ',';
    first = false;
    json += "{\"name\":\"" + json_escape(t.name) + "\",\"up\":" + (t.up ? "true" : "false") +
            ",\"reason\":\"" + json_escape(t.reason) + "\",\"error\":\"" + json_escape(t.error) +
            "\",\"role\":\"" + json_escape(t.role) + "\",\"version\":\"" + json_escape(t.version) +
            "\",\"probes\":[";
    for (std::size_t i = 0; i < t.probes.size(); ++i)
      json += (i ? ",\"" : "\"") + json_escape(t.probes[i]) + "\"";
    json += "]}";
  }
  json += "]}\n";
  return json;
}

std::string render_alerts_json(const std::vector<AlertView>& alerts) {
  std::string json = "{\"alerts\":[";
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const auto& a = alerts[i];
    if (i) json += ',';
    json += "{\"labels\":{";
    for (std::size_t j = 0; j < a.labels.size(); ++j)
      json += (j ? ",\"" : "\"") + json_escape(a.labels[j].first) + "\":\"" +
              json_escape(a.labels[j].second) + "\"";
    char value[32];
    std::snprintf(value, sizeof value, "%.17g", a.value);
    const bool finite = a.value == a.value && a.value - a.value == 0;
    json += "},\"annotations\":{\"summary\":\"" + json_escape(a.summary) + "\",\"description\":\"" +
            json_escape(a.description) + "\",\"runbook_url\":\"" + json_escape(a.runbook_url) +
            "\",\"evidence\":\"" + json_escape(a.evidence) + "\"},\"state\":\"" +
            json_escape(a.state) + "\",\"activeAt\":\"" + json_escape(a.active_at) +
            "\",\"firedAt\":\"" + json_escape(a.fired_at) + "\",\"resolvedAt\":\"" +
            json_escape(a.resolved_at) + "\",\"value\":" + (finite ? std::string(value) : "null") +
            "}";
  }
  json += "]}\n";
  return json;
}

}  // namespace pgvigil
