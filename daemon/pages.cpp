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

std::string render_landing_page(const std::vector<TargetView>& targets) {
  return render_landing_page(targets, {});
}

namespace {

std::string render_alerts_section(const std::vector<AlertView>& alerts) {
  std::string html =
      "<h2>Alerts</h2><p><a href=\"/api/v1/alerts\">/api/v1/alerts</a>: the same as JSON, with "
      "the evidence captured when each alert fired.</p>";
  if (alerts.empty()) return html + "<p>No active alerts.</p>";
  html +=
      "<table border=\"1\" cellpadding=\"4\"><tr><th>alert</th><th>state</th><th>severity</th>"
      "<th>target</th><th>labels</th><th>since</th><th>summary</th><th>evidence</th></tr>";
  for (const auto& a : alerts) {
    std::string labels;
    for (const auto& [name, value] : a.labels) {
      if (name == "alertname" || name == "severity" || name == "target") continue;
      labels += html_escape(name) + "=" + html_escape(value) + " ";
    }
    const auto& since = a.state == "resolved" ? a.resolved_at
                        : a.state == "firing" ? a.fired_at
                                              : a.active_at;
    html += "<tr id=\"" + html_escape(a.alertname) + "\"><td><a href=\"" +
            html_escape(a.runbook_url) + "\">" + html_escape(a.alertname) + "</a></td><td>" +
            html_escape(a.state) + "</td><td>" + html_escape(a.severity) + "</td><td>" +
            html_escape(a.target) + "</td><td>" + labels + "</td><td>" + html_escape(since) +
            "</td><td>" + html_escape(a.summary) + "</td><td><pre>" + html_escape(a.evidence) +
            "</pre></td></tr>";
  }
  return html + "</table>";
}

}  // namespace

std::string render_landing_page(const std::vector<TargetView>& targets,
                                const std::vector<AlertView>& alerts) {
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>pgvigil</title></head><body>"
      "<h1>pgvigil</h1><p>PostgreSQL health monitor.</p><ul>"
      "<li><a href=\"/metrics\">/metrics</a>: Prometheus metrics (latest probe results; a "
      "scrape never queries PostgreSQL)</li>"
      "<li><a href=\"/health\">/health</a>: 200 while the event loop and scheduler run</li>"
      "<li><a href=\"/ready\">/ready</a>: 200 once every target finished its first round</li>"
      "<li><a href=\"/api/v1/targets\">/api/v1/targets</a>: targets as JSON</li>"
      "<li><a href=\"/runbooks/\">/runbooks/</a>: what to do for each alert</li></ul>"
      "<h2>Targets</h2><table border=\"1\" cellpadding=\"4\"><tr><th>target</th><th>up</th>"
      "<th>reason</th><th>role</th><th>version</th><th>last error</th></tr>";
  for (const auto& t : targets) {
    html += "<tr><td>" + html_escape(t.name) + "</td><td>" + (t.up ? "up" : "DOWN") + "</td><td>" +
            html_escape(t.reason) + "</td><td>" + html_escape(t.role) + "</td><td>" +
            html_escape(t.version) + "</td><td>" + html_escape(t.error) + "</td></tr>";
  }
  html += "</table>" + render_alerts_section(alerts) + "</body></html>\n";
  return html;
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
