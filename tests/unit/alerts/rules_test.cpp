#include <doctest/doctest.h>

#include <set>

#include "alerts/rules.hpp"

using namespace pgvigil;
using namespace pgvigil::alerts;

TEST_CASE("the rule table: unique names, the config's rule names, every field set") {
  const auto table = rule_table();
  const auto names = rule_names();
  REQUIRE(table.size() == names.size());
  CHECK(std::set<std::string_view>(names.begin(), names.end()).size() == names.size());
  CHECK(config_vocabulary().rules == names);
  for (std::size_t i = 0; i < table.size(); ++i) {
    CHECK(table[i].name == names[i]);
    CHECK((table[i].severity == "warning" || table[i].severity == "critical"));
    CHECK(!table[i].summary.empty());
    CHECK(!table[i].description.empty());
    CHECK(table[i].evaluate);
    CHECK(table[i].prometheus);
  }
  CHECK(find_rule("PostgresDown") == &table[0]);
  CHECK(find_rule("NoSuchRule") == nullptr);
}

TEST_CASE("every ${key} in a rule's text names one of its thresholds") {
  for (const auto& rule : rule_table()) {
    const auto params = resolve_params(rule, nullptr);
    for (auto text : {rule.summary, rule.description}) {
      const auto out = substitute_thresholds(text, rule, params);
      CHECK_MESSAGE(out.find("${") == std::string::npos, rule.name);
    }
  }
}

TEST_CASE("runbook URLs are the base plus <AlertName>.md") {
  CHECK(runbook_url("http://db-mon:9816/runbooks/", "PostgresDown") ==
        "http://db-mon:9816/runbooks/PostgresDown.md");
  CHECK(runbook_url("https://wiki.example.com/pg", "PostgresDown") ==
        "https://wiki.example.com/pg/PostgresDown.md");
}

TEST_CASE("resolve_params: defaults, overrides and unknown keys") {
  const auto* rule = find_rule("PostgresReplicationLag");
  REQUIRE(rule != nullptr);
  auto defaults = resolve_params(*rule, nullptr);
  CHECK(defaults.enabled);
  CHECK(defaults.for_duration == std::chrono::minutes(1));
  CHECK(defaults.get("warning") == 5);
  CHECK(defaults.get("critical") == 300);

  config::RuleOverride override;
  override.enabled = false;
  override.for_duration = std::chrono::seconds(10);
  override.thresholds = {{"warning", 30}, {"wraning", 1}};
  std::vector<std::string> unknown;
  auto params = resolve_params(*rule, &override, &unknown);
  CHECK_FALSE(params.enabled);
  CHECK(params.for_duration == std::chrono::seconds(10));
  CHECK(params.get("warning") == 30);
  CHECK(params.get("critical") == 300);
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0] == "wraning");
}

TEST_CASE("format_threshold writes values the way the config accepts them") {
  CHECK(format_threshold(300, Unit::seconds) == "5m");
  CHECK(format_threshold(14400, Unit::seconds) == "4h");
  CHECK(format_threshold(90, Unit::seconds) == "1m30s");
  CHECK(format_threshold(86400, Unit::seconds) == "1d");
  CHECK(format_threshold(0.5, Unit::seconds) == "500ms");
  CHECK(format_threshold(0.8, Unit::ratio) == "80%");
  CHECK(format_threshold(1024.0 * 1024 * 1024, Unit::bytes) == "1GiB");
}

TEST_CASE("PromContext::select merges rule matchers with the target matcher") {
  RuleParams params;
  PromContext all{params, ""};
  CHECK(all.select("pg_up") == "pg_up");
  CHECK(all.select("pg_x", "a=\"1\"") == "pg_x{a=\"1\"}");
  PromContext some{params, "target=~\"a|b\""};
  CHECK(some.select("pg_up") == "pg_up{target=~\"a|b\"}");
  CHECK(some.select("pg_x", "a=\"1\"") == "pg_x{a=\"1\",target=~\"a|b\"}");
}

TEST_CASE("every rule yields PromQL that uses the rule's thresholds") {
  for (const auto& rule : rule_table()) {
    auto params = resolve_params(rule, nullptr);
    PromContext ctx{params, ""};
    const auto alerts = rule.prometheus(ctx);
    REQUIRE_MESSAGE(!alerts.empty(), rule.name);
    std::set<std::string> severities;
    for (const auto& alert : alerts) {
      CHECK_MESSAGE(!alert.expr.empty(), rule.name);
      severities.insert(alert.severity.empty() ? std::string(rule.severity) : alert.severity);
    }
    CHECK_MESSAGE(severities.size() == alerts.size(), rule.name);  // one expression per severity
  }
  auto* lag = find_rule("PostgresReplicationLag");
  auto params = resolve_params(*lag, nullptr);
  params.thresholds["warning"] = 42;
  PromContext ctx{params, ""};
  CHECK(lag->prometheus(ctx)[0].expr.find("> 42") != std::string::npos);
}
