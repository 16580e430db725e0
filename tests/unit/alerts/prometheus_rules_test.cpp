#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "alerts/prometheus_rules.hpp"
#include "alerts/rules.hpp"

using namespace pgvigil;
using namespace pgvigil::alerts;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

config::TargetConfig target(const std::string& name) {
  config::TargetConfig t;
  t.name = name;
  return t;
}

}  // namespace

TEST_CASE("the committed alerts/pgvigil.rules.yml is what `pgvigil rules` prints") {
  const auto committed = read(std::string(PGVIGIL_SOURCE_DIR) + "/alerts/pgvigil.rules.yml");
  REQUIRE_FALSE(committed.empty());
  CHECK_MESSAGE(committed == render_prometheus_rules(config::Config{}, "the default configuration"),
                "regenerate it: pgvigil rules > alerts/pgvigil.rules.yml");
}

TEST_CASE("every rule of the table is exported, in its group, with its runbook") {
  const auto text = render_prometheus_rules(config::Config{}, "test");
  const auto self = text.find("  - name: pgvigil.selfmonitoring\n");
  REQUIRE(text.find("  - name: pgvigil.rules\n") < self);
  REQUIRE(self != std::string::npos);
  for (const auto& rule : rule_table()) {
    const std::string name(rule.name);
    const auto at = text.find("- alert: " + name + "\n");
    REQUIRE_MESSAGE(at != std::string::npos, name);
    CHECK_MESSAGE((at > self) == name.starts_with("Pgvigil"), name);
    CHECK(text.find("runbook_url: '{{ with $labels.instance }}http://{{ . }}{{ end }}/runbooks/" +
                    name + ".md'") != std::string::npos);
  }
  CHECK(text.find("- alert: PgvigilNotScraped\n") > self);
  CHECK(occurrences(text, "- alert: PostgresReplicationLag\n") == 2);  // warning + critical
  CHECK(text.find("${") == std::string::npos);
}

TEST_CASE("the exported runbook base follows the config") {
  config::Config config;
  CHECK(prometheus_runbook_base(config) ==
        "{{ with $labels.instance }}http://{{ . }}{{ end }}/runbooks/");
  config.server.tls = config::TlsConfig{};
  CHECK(prometheus_runbook_base(config).find("https://{{ . }}") != std::string::npos);
  config.alerting.external_url = "https://pgvigil.example.com/";
  CHECK(prometheus_runbook_base(config) == "https://pgvigil.example.com/runbooks/");
  config.alerting.runbook_base_url = "https://wiki.example.com/runbooks/";
  CHECK(prometheus_runbook_base(config) == "https://wiki.example.com/runbooks/");
  CHECK(render_prometheus_rules(config, "test")
            .find("runbook_url: 'https://wiki.example.com/runbooks/PostgresDown.md'") !=
        std::string::npos);
}

TEST_CASE("global overrides change the exported thresholds and `for`") {
  config::Config cfg;
  cfg.alerting.rules["PostgresLongRunningQuery"].thresholds["threshold"] = 900;
  cfg.alerting.rules["PostgresLongRunningQuery"].for_duration = std::chrono::minutes(2);
  cfg.alerting.rules["PostgresDeadTuples"].enabled = false;
  const auto text = render_prometheus_rules(cfg, "test");
  CHECK(text.find("expr: 'pg_stat_activity_longest_query_seconds > 900'\n        for: 2m\n") !=
        std::string::npos);
  CHECK(text.find("(limit 15m)") != std::string::npos);
  CHECK(text.find("- alert: PostgresDeadTuples") == std::string::npos);
}

TEST_CASE("per-target overrides get their own rules, the global rule excludes them") {
  config::Config cfg;
  auto special = target("big.db");
  special.rules["PostgresLongRunningQuery"].thresholds["threshold"] = 3600;
  auto off = target("batch");
  off.rules["PostgresLongRunningQuery"].enabled = false;
  cfg.targets = {special, off, target("plain")};
  const auto text = render_prometheus_rules(cfg, "test");
  CHECK(text.find("pg_stat_activity_longest_query_seconds{target!~\"big\\\\.db|batch\"} > 300") !=
        std::string::npos);
  CHECK(text.find("pg_stat_activity_longest_query_seconds{target=~\"big\\\\.db\"} > 3600") !=
        std::string::npos);
  CHECK(occurrences(text, "- alert: PostgresLongRunningQuery\n") == 2);  // batch: none
  // Rules without overrides stay unselected.
  CHECK(text.find("expr: 'pg_stat_activity_longest_lock_wait_seconds > 60'") != std::string::npos);
}

TEST_CASE("custom checks are exported one rule each with their own for and severity") {
  config::Config cfg;
  auto t = target("db1");
  config::CheckConfig check;
  check.name = "orders_recent";
  check.severity = "critical";
  check.for_duration = std::chrono::minutes(3);
  t.checks.push_back(check);
  cfg.targets = {t, target("db2")};
  const auto text = render_prometheus_rules(cfg, "test");
  CHECK(text.find("expr: 'pgvigil_check_ok{check=\"orders_recent\",target=\"db1\"} == 0'\n"
                  "        for: 3m\n        labels:\n          severity: critical\n") !=
        std::string::npos);
  CHECK(text.find("expr: 'pgvigil_check_ok{target!~\"db1\"} == 0'") != std::string::npos);
}

TEST_CASE("collector expectations are exported one rule each, like custom checks") {
  config::Config cfg;
  auto t = target("db1");
  config::CollectorConfig collector;
  collector.name = "app_queue";
  config::CollectorColumn depth;
  depth.name = "depth";
  depth.usage = config::ColumnUsage::gauge;
  depth.has_expect = true;
  depth.severity = "critical";
  depth.for_duration = std::chrono::minutes(2);
  collector.columns.push_back(depth);
  t.collectors.push_back(collector);
  cfg.targets = {t, target("db2")};
  const auto text = render_prometheus_rules(cfg, "test");
  CHECK(text.find("expr: 'pgvigil_check_ok{check=\"app_queue_depth\",target=\"db1\"} == 0'\n"
                  "        for: 2m\n        labels:\n          severity: critical\n") !=
        std::string::npos);
  CHECK(text.find("expr: 'pgvigil_check_ok{target!~\"db1\"} == 0'") != std::string::npos);
}

TEST_CASE("quotes in YAML single-quoted scalars are doubled") {
  const auto text = render_prometheus_rules(config::Config{}, "test");
  CHECK(text.find("the target''s RPO") != std::string::npos);
  CHECK(text.find("Prometheus'' side") != std::string::npos);
}
