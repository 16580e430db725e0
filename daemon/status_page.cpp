#include "daemon/status_page.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace pgvigil {
namespace {

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;"
    "color:#1d1d1f;background:#fafafa}"
    "h1{margin:0 0 .2rem}header p{margin:0 0 1rem;color:#555}"
    ".target{background:#fff;border:1px solid #ccc;border-left:.5rem solid #2e7d32;"
    "border-radius:4px;padding:.6rem 1rem;margin:0 0 1rem}"
    ".target.down{border-left-color:#c62828}"
    ".target h2{margin:.2rem 0;font-size:1.3rem}"
    ".state{font-size:.9rem;padding:.1rem .5rem;border-radius:3px;color:#fff;"
    "background:#2e7d32;vertical-align:middle}"
    ".down .state{background:#c62828}"
    ".facts{border-collapse:collapse;margin:.4rem 0}"
    ".facts th{text-align:left;font-weight:normal;color:#555;padding:.15rem 1rem .15rem 0}"
    ".facts td{padding:.15rem 0}.warn{color:#b45309;font-weight:bold}"
    ".alert{border-top:1px solid #ddd;padding:.4rem 0}"
    ".alert.firing .alertname{color:#c62828}.alert.pending .alertname{color:#b45309}"
    "pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-word;"
    "max-height:20rem;overflow:auto;margin:.3rem 0}"
    ".muted{color:#777}footer{color:#555;font-size:.9rem}";

bool is_page_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string fact_row(std::string_view name, const std::string& value_html) {
  return "<tr><th>" + std::string(name) + "</th><td>" + value_html + "</td></tr>";
}

const std::string kNoData = "<span class=\"muted\">no data</span>";

std::string render_alert(const AlertView& alert) {
  const auto& since = alert.state == "firing" ? alert.fired_at : alert.active_at;
  std::string html =
      "<div class=\"alert " + html_escape(alert.state) + "\"><strong class=\"alertname\">";
  if (is_page_name(alert.alertname)) {
    html += "<a class=\"alertname\" href=\"runbooks/" + html_escape(alert.alertname) + "\">" +
            html_escape(alert.alertname) + "</a>";
  } else {
    html += html_escape(alert.alertname);
  }
  html += "</strong> " + html_escape(alert.state);
  if (!alert.severity.empty()) html += " · " + html_escape(alert.severity);
  if (!since.empty()) html += " · since " + html_escape(since);
  std::string labels;
  for (const auto& [name, value] : alert.labels) {
    if (name == "alertname" || name == "severity" || name == "target") continue;
    labels += (labels.empty() ? "" : ", ") + html_escape(name) + "=" + html_escape(value);
  }
  if (!labels.empty()) html += " · <span class=\"muted\">" + labels + "</span>";
  if (!alert.summary.empty()) html += "<div>" + html_escape(alert.summary) + "</div>";
  if (is_page_name(alert.alertname))
    html += "<div><a href=\"runbooks/" + html_escape(alert.alertname) +
            "\">runbook: what to do</a></div>";
  if (!alert.evidence.empty())
    html += "<details open><summary>evidence</summary><pre>" + html_escape(alert.evidence) +
            "</pre></details>";
  return html + "</div>";
}

std::string render_target(const TargetStatus& status, const std::vector<AlertView>& alerts,
                          std::int64_t now_unix) {
  const auto& t = status.target;
  std::string html = "<section class=\"target " + std::string(t.up ? "up" : "down") +
                     "\" id=\"target-" + html_escape(t.name) + "\"><h2>" + html_escape(t.name) +
                     " <span class=\"state\">" + (t.up ? "UP" : "DOWN") + "</span></h2><p>";
  if (t.up) {
    html += "Connected";
  } else {
    html += "<strong>Down: " + html_escape(t.reason) + "</strong>";
  }
  if (status.since_unix > 0) {
    html += " since " + format_utc(status.since_unix) + " (" +
            format_duration(static_cast<double>(now_unix - status.since_unix)) + ")";
  }
  html += "</p>";
  if (!t.up && !t.error.empty())
    html += "<p>Last error: <code>" + html_escape(t.error) + "</code></p>";

  html += "<table class=\"facts\">";
  html += fact_row("role", t.role.empty() ? kNoData : html_escape(t.role));
  html += fact_row("version", t.version.empty() ? kNoData : html_escape(t.version));
  html += fact_row("replication lag", status.replication_lag_seconds
                                          ? format_duration(*status.replication_lag_seconds)
                                          : kNoData);
  if (status.connections_used_ratio) {
    char percent[32];
    std::snprintf(percent, sizeof percent, "%.0f %% of the usable slots",
                  *status.connections_used_ratio * 100);
    const bool high = *status.connections_used_ratio >= 0.8;
    html +=
        fact_row("connections", high ? "<span class=\"warn\">" + std::string(percent) + "</span>"
                                     : std::string(percent));
  } else {
    html += fact_row("connections", kNoData);
  }
  if (status.disk_full_unix) {
    const auto at = static_cast<std::int64_t>(*status.disk_full_unix);
    html += fact_row("disk fill forecast",
                     "<span class=\"warn\">full around " + format_utc(at) + " (in " +
                         format_duration(static_cast<double>(at - now_unix)) + ")</span>");
  } else {
    html += fact_row("disk fill forecast", "<span class=\"muted\">not filling</span>");
  }
  if (status.backup_age_seconds) {
    std::string age = format_duration(*status.backup_age_seconds) + " ago";
    html += fact_row("newest backup",
                     status.backup_stale ? "<span class=\"warn\">" + age + " (stale)</span>" : age);
  } else {
    html += fact_row("newest backup",
                     status.backup_stale ? "<span class=\"warn\">none found</span>" : kNoData);
  }
  html += "</table>";

  std::string alert_html;
  for (const auto& alert : alerts)
    if (alert.target == t.name && alert.state != "resolved") alert_html += render_alert(alert);
  html += alert_html.empty() ? "<p class=\"muted\">No active alerts.</p>" : alert_html;
  return html + "</section>";
}

}  // namespace

std::string format_utc(std::int64_t unix_seconds) {
  const std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&time, &tm) == nullptr) return "?";
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  const bool negative = seconds < 0;
  auto total = static_cast<std::int64_t>(std::llround(std::fabs(seconds)));
  char buffer[48];
  if (total < 60) {
    if (std::fabs(seconds) < 10 && std::fabs(seconds) != std::floor(std::fabs(seconds)))
      std::snprintf(buffer, sizeof buffer, "%.1fs", std::fabs(seconds));
    else
      std::snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(total));
  } else if (total < 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldm %llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  } else if (total < 86400) {
    std::snprintf(buffer, sizeof buffer, "%lldh %lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>(total % 3600 / 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldd %lldh", static_cast<long long>(total / 86400),
                  static_cast<long long>(total % 86400 / 3600));
  }
  return (negative ? "-" : "") + std::string(buffer);
}

std::string render_status_page(const StatusPage& page) {
  std::size_t down = 0;
  for (const auto& t : page.targets)
    if (!t.target.up) ++down;
  std::size_t firing = 0;
  std::size_t pending = 0;
  for (const auto& a : page.alerts) {
    if (a.state == "firing") ++firing;
    if (a.state == "pending") ++pending;
  }
  const std::string summary = std::to_string(page.targets.size()) +
                              (page.targets.size() == 1 ? " target, " : " targets, ") +
                              std::to_string(down) + " down · " + std::to_string(firing) +
                              " firing, " + std::to_string(pending) + " pending alerts";
  const int refresh = std::max(page.refresh_seconds, 1);

  std::string html =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"" +
      std::to_string(refresh) +
      "\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>pgvigil: " +
      summary + "</title><style>" + std::string(kStyle) +
      "</style></head><body><header><h1>pgvigil</h1><p>" + summary + " · updated " +
      format_utc(page.now_unix) + " · refreshes every " + std::to_string(refresh) +
      " s</p></header>"
      "<main>";
  if (page.targets.empty()) html += "<p>No targets configured.</p>";
  for (const auto& target : page.targets) html += render_target(target, page.alerts, page.now_unix);

  // Alerts of no configured target (a target removed by a reload, still resolving).
  std::string others;
  for (const auto& alert : page.alerts) {
    if (alert.state == "resolved") continue;
    const bool known =
        std::any_of(page.targets.begin(), page.targets.end(),
                    [&](const TargetStatus& t) { return t.target.name == alert.target; });
    if (!known) others += render_alert(alert);
  }
  if (!others.empty())
    html += "<section class=\"target\"><h2>Other alerts</h2>" + others + "</section>";

  html += "</main><footer><p>pgvigil " + html_escape(page.version) +
          " · <a href=\"metrics\">/metrics</a> (Prometheus; a scrape never queries PostgreSQL)"
          " · <a href=\"api/v1/alerts\">/api/v1/alerts</a> (alerts with evidence, JSON)"
          " · <a href=\"api/v1/targets\">/api/v1/targets</a>"
          " · <a href=\"runbooks/\">/runbooks/</a> (what to do for each alert)"
          " · <a href=\"health\">/health</a> · <a href=\"ready\">/ready</a></p></footer>"
          "</body></html>\n";
  return html;
}

}  // namespace pgvigil
