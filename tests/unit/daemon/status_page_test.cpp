// The landing page as a pure function of its state: what it shows per target,
// and that nothing a server, a log line or the config can contain becomes
// markup on it.
#include "daemon/status_page.hpp"
#include "daemon/status_facts.hpp"

#include <doctest/doctest.h>

#include <string>

#include "collect/metrics_store.hpp"
#include "probes/sample_sink.hpp"

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

constexpr std::int64_t kNow = 1764792000;  // 2025-12-03 20:00:00 UTC

pgvigil::StatusPage healthy_and_down() {
  pgvigil::StatusPage page;
  page.now_unix = kNow;
  page.refresh_seconds = 5;
  page.version = "0.1.0";
  pgvigil::TargetStatus primary;
  primary.target = {"primary", true, "none", "", "15.10", "primary", {"activity"}};
  primary.since_unix = kNow - 3725;
  primary.replication_lag_seconds = 0.25;
  primary.connections_used_ratio = 0.85;
  primary.disk_full_unix = static_cast<double>(kNow + 7200);
  primary.backup_age_seconds = 90000;
  primary.backup_stale = true;
  pgvigil::TargetStatus replica;
  replica.target = {"replica", false, "refused", "connection refused", "", "", {}};
  replica.since_unix = kNow - 42;
  page.targets = {primary, replica};
  pgvigil::AlertView down;
  down.alertname = "PostgresDown";
  down.state = "firing";
  down.severity = "critical";
  down.target = "replica";
  down.labels = {{"alertname", "PostgresDown"}, {"target", "replica"}, {"reason", "refused"}};
  down.summary = "replica is down (refused)";
  down.evidence = "reason: refused\nerror: connection refused";
  down.fired_at = "2025-12-03T19:59:30Z";
  pgvigil::AlertView old = down;
  old.alertname = "PostgresRestarted";
  old.state = "resolved";
  page.alerts = {down, old};
  return page;
}

}  // namespace

TEST_CASE("status page: each target's state, facts and alerts") {
  const auto html = pgvigil::render_status_page(healthy_and_down());
  CHECK(html.starts_with("<!doctype html>"));
  CHECK(contains(html, "<meta http-equiv=\"refresh\" content=\"5\">"));
  CHECK(contains(html, "2 targets, 1 down · 1 firing, 0 pending alerts"));
  // The healthy primary with its numbers.
  CHECK(contains(html, "<section class=\"target up\" id=\"target-primary\">"));
  CHECK(contains(html, "Connected since 2025-12-03 18:57:55 UTC (1h 2m)"));
  CHECK(contains(html, "<th>role</th><td>primary</td>"));
  CHECK(contains(html, "<th>version</th><td>15.10</td>"));
  CHECK(contains(html, "<th>replication lag</th><td>0.2s</td>"));
  CHECK(contains(html, "85 % of the usable slots"));
  CHECK(contains(html, "full around 2025-12-03 22:00:00 UTC (in 2h 0m)"));
  CHECK(contains(html, "1d 1h ago (stale)"));
  // The down replica: its reason, since when, its alert with evidence and runbook.
  CHECK(contains(html, "<section class=\"target down\" id=\"target-replica\">"));
  CHECK(contains(html, "<span class=\"state\">DOWN</span>"));
  CHECK(contains(html, "<strong>Down: refused</strong> since 2025-12-03 19:59:18 UTC (42s)"));
  CHECK(contains(html, "Last error: <code>connection refused</code>"));
  CHECK(contains(html, "href=\"runbooks/PostgresDown\""));
  CHECK(contains(html, "<pre>reason: refused\nerror: connection refused</pre>"));
  CHECK(contains(html, "firing · critical · since 2025-12-03T19:59:30Z"));
  CHECK(contains(html, "reason=refused"));
  // A resolved alert is not active: not on the page.
  CHECK(!contains(html, "PostgresRestarted"));
  // Nothing is fetched and nothing runs.
  CHECK(!contains(html, "<script"));
  CHECK(!contains(html, "src="));
  CHECK(!contains(html, "http://"));
  CHECK(!contains(html, "https://"));
}

TEST_CASE("status page: hostile strings stay text") {
  auto page = healthy_and_down();
  const std::string hostile = "<script>alert(\"x\")</script>' onmouseover='y' &amp; <img src=z>";
  page.version = hostile;
  page.targets[0].target.name = hostile;
  page.targets[0].target.role = hostile;
  page.targets[0].target.version = hostile;
  page.targets[1].target.reason = hostile;
  page.targets[1].target.error = hostile;
  page.alerts[0].target = page.targets[1].target.name;
  page.alerts[0].severity = hostile;
  page.alerts[0].summary = hostile;
  page.alerts[0].evidence = "LOG:  " + hostile + "\n</pre><b>";
  page.alerts[0].labels.push_back({hostile, hostile});
  page.alerts[0].fired_at = hostile;
  pgvigil::AlertView odd = page.alerts[0];
  odd.alertname = hostile;  // not a runbook name: no link
  odd.target = hostile + "gone";
  page.alerts.push_back(odd);
  const auto html = pgvigil::render_status_page(page);
  CHECK(!contains(html, "<script"));
  CHECK(!contains(html, "<img"));
  CHECK(!contains(html, "</pre><b>"));
  CHECK(!contains(html, "' onmouseover"));
  CHECK(!contains(html, "\" onmouseover"));
  CHECK(contains(html,
                 "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; "
                 "&amp;amp; &lt;img src=z&gt;"));
  CHECK(contains(html, "id=\"target-&lt;script&gt;"));
  CHECK(contains(html, "<h2>Other alerts</h2>"));  // the alert of an unknown target
  CHECK(!contains(html, "href=\"runbooks/&lt;"));
}

TEST_CASE("status page: nothing known yet") {
  pgvigil::StatusPage page;
  page.now_unix = kNow;
  pgvigil::TargetStatus fresh;
  fresh.target = {"new", false, "connecting", "", "", "", {}};
  page.targets = {fresh};
  const auto html = pgvigil::render_status_page(page);
  CHECK(contains(html, "1 target, 1 down"));
  CHECK(contains(html, "<strong>Down: connecting</strong></p>"));  // no since
  CHECK(contains(html, "<th>role</th><td><span class=\"muted\">no data</span>"));
  CHECK(contains(html, "<th>newest backup</th><td><span class=\"muted\">no data</span>"));
  CHECK(contains(html, "No active alerts."));
  CHECK(contains(pgvigil::render_status_page({}), "No targets configured."));
}

TEST_CASE("status page: facts read from the store") {
  pgvigil::MetricsStore store;
  const pgvigil::Labels target_labels{{"cluster", "x"}};
  pgvigil::SampleSink replication;
  replication.gauge("pg_stat_replication_replay_lag_seconds", "lag", {{"application_name", "a"}},
                    1.5);
  replication.gauge("pg_stat_replication_replay_lag_seconds", "lag", {{"application_name", "b"}},
                    4);
  store.set("db", "replication", target_labels, std::move(replication));
  pgvigil::SampleSink disk;
  disk.gauge("pg_filesystem_predicted_full_timestamp_seconds", "f", {{"role", "data"}}, 2000);
  disk.gauge("pg_filesystem_predicted_full_timestamp_seconds", "f", {{"role", "wal"}}, 1500);
  store.set("db", "disk", target_labels, std::move(disk));
  pgvigil::SampleSink backups;
  backups.gauge("pg_backup_last_timestamp_seconds", "b", {{"glob", "/b/*"}}, 400);
  backups.gauge("pg_backup_stale", "s", {{"glob", "/b/*"}}, 0);
  store.set("db", "backups", target_labels, std::move(backups));
  pgvigil::SampleSink connections;
  connections.gauge("pg_connections_utilization_ratio", "u", {}, 0.5);
  store.set("db", "connections", target_labels, std::move(connections));

  pgvigil::TargetStatus status;
  status.target.name = "db";
  pgvigil::status_facts(store, 1000, status);
  CHECK(status.replication_lag_seconds == doctest::Approx(4));
  CHECK(status.disk_full_unix == doctest::Approx(1500));
  CHECK(status.backup_age_seconds == doctest::Approx(600));
  CHECK(!status.backup_stale);
  CHECK(status.connections_used_ratio == doctest::Approx(0.5));

  pgvigil::TargetStatus other;
  other.target.name = "other";
  pgvigil::status_facts(store, 1000, other);
  CHECK(!other.replication_lag_seconds);
  CHECK(!other.disk_full_unix);
  CHECK(!other.backup_age_seconds);
}

TEST_CASE("status page: durations and times") {
  CHECK(pgvigil::format_duration(0.25) == "0.2s");
  CHECK(pgvigil::format_duration(42) == "42s");
  CHECK(pgvigil::format_duration(192) == "3m 12s");
  CHECK(pgvigil::format_duration(7500) == "2h 5m");
  CHECK(pgvigil::format_duration(90000) == "1d 1h");
  CHECK(pgvigil::format_duration(-30) == "-30s");
  CHECK(pgvigil::format_utc(0) == "1970-01-01 00:00:00 UTC");
}
