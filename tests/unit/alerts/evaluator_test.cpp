#include <doctest/doctest.h>

#include <algorithm>
#include <limits>

#include "alerts/evaluator.hpp"
#include "fake_source.hpp"

using namespace pgvigil;
using namespace pgvigil::alerts;
using namespace std::chrono_literals;
using pgvigil::alerts::test::FakeSource;

namespace {

const Clock::time_point kStart = Clock::time_point(std::chrono::seconds(1'800'000'000));

struct Fixture {
  FakeSource source;
  config::TargetConfig config;
  std::vector<std::string> warnings;
  Evaluator evaluator{[this](const std::string& w) { warnings.push_back(w); }};

  Fixture() {
    config.name = "db1";
    config.labels = {{"env", "prod"}};
  }
  std::vector<TargetFacts> targets(bool up = true) const {
    TargetFacts facts;
    facts.name = "db1";
    facts.labels = {{"env", "prod"}};
    facts.up = up;
    facts.reason = up ? "none" : "refused";
    facts.last_error = up ? "" : "connection refused";
    facts.config = &config;
    return {facts};
  }
  void run(Clock::time_point now, bool up = true) { evaluator.evaluate(source, targets(up), now); }
  // The same with the source's generation, as the daemon passes the store's.
  void run_tracked(Clock::time_point now, bool up = true) {
    auto facts = targets(up);
    for (auto& target : facts) target.input_generation = source.generation();
    evaluator.evaluate(source, facts, now);
  }
  std::vector<const Alert*> of(std::string_view rule) const {
    std::vector<const Alert*> out;
    for (const auto* alert : evaluator.alerts())
      if (alert->rule == rule) out.push_back(alert);
    return out;
  }
};

std::string label(const Alert& alert, std::string_view name) {
  for (const auto& [key, value] : alert.labels)
    if (key == name) return value;
  return "<none>";
}

}  // namespace

TEST_CASE("PostgresDown goes pending, fires after `for`, resolves, and is forgotten later") {
  Fixture f;
  test::set_down(f.source, "db1", "refused");
  f.source.set_evidence("db1", "logs.last.fatal", "FATAL:  the database system is shutting down");

  f.run(kStart, false);
  auto down = f.of("PostgresDown");
  REQUIRE(down.size() == 1);
  CHECK(down[0]->state == AlertState::pending);
  CHECK(down[0]->active_at == kStart);
  CHECK(f.evaluator.take_due(kStart, 60s).empty());  // pending is never sent

  f.run(kStart + 29s, false);
  CHECK(f.of("PostgresDown")[0]->state == AlertState::pending);

  f.run(kStart + 30s, false);
  down = f.of("PostgresDown");
  REQUIRE(down.size() == 1);
  const Alert& alert = *down[0];
  CHECK(alert.state == AlertState::firing);
  CHECK(alert.fired_at == kStart + 30s);
  CHECK(label(alert, "alertname") == "PostgresDown");
  CHECK(label(alert, "severity") == "critical");
  CHECK(label(alert, "target") == "db1");
  CHECK(label(alert, "env") == "prod");
  CHECK(label(alert, "reason") == "refused");
  CHECK(alert.summary == "PostgreSQL db1 is down (refused)");
  CHECK(alert.runbook_url == "/runbooks/PostgresDown.md");  // the default base
  CHECK(alert.evidence.find("reason: refused") != std::string::npos);
  CHECK(alert.evidence.find("connection refused") != std::string::npos);
  CHECK(alert.evidence.find("[logs.last.fatal]\nFATAL:  the database system is shutting down") !=
        std::string::npos);
  CHECK(std::is_sorted(alert.labels.begin(), alert.labels.end()));

  test::set_up(f.source, "db1");
  f.run(kStart + 40s);
  down = f.of("PostgresDown");
  REQUIRE(down.size() == 1);
  CHECK(down[0]->state == AlertState::resolved);
  CHECK(down[0]->resolved_at == kStart + 40s);
  CHECK(f.evaluator.count(AlertState::resolved) == 1);

  f.run(kStart + 40s + Evaluator::kResolvedRetention + 1s);
  CHECK(f.of("PostgresDown").empty());
}

TEST_CASE("a pending alert whose condition clears goes back to inactive without a trace") {
  Fixture f;
  test::set_down(f.source, "db1", "timeout");
  f.run(kStart, false);
  REQUIRE(f.of("PostgresDown").size() == 1);
  test::set_up(f.source, "db1");
  f.run(kStart + 10s);
  CHECK(f.of("PostgresDown").empty());
  CHECK(f.evaluator.take_due(kStart + 10s, 60s).empty());
}

TEST_CASE("a changed label (reason) is a new alert with its own `for`") {
  Fixture f;
  test::set_down(f.source, "db1", "refused");
  f.run(kStart, false);
  test::set_down(f.source, "db1", "timeout");
  f.run(kStart + 20s, false);
  auto down = f.of("PostgresDown");
  REQUIRE(down.size() == 1);
  CHECK(label(*down[0], "reason") == "timeout");
  CHECK(down[0]->active_at == kStart + 20s);
}

TEST_CASE("sending: firing at once and every resend interval, resolved at once then re-sent") {
  Fixture f;
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 400);
  f.run(kStart);  // for = 0: fires in the same round
  auto due = f.evaluator.take_due(kStart, 60s);
  REQUIRE(due.size() == 1);
  CHECK(due[0].rule == "PostgresLongRunningQuery");
  CHECK(due[0].state == AlertState::firing);
  CHECK(due[0].description.find("6m 40s") != std::string::npos);

  f.run(kStart + 30s);
  CHECK(f.evaluator.take_due(kStart + 30s, 60s).empty());
  f.run(kStart + 60s);
  CHECK(f.evaluator.take_due(kStart + 60s, 60s).size() == 1);

  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 1);
  f.run(kStart + 61s);
  due = f.evaluator.take_due(kStart + 61s, 60s);
  REQUIRE(due.size() == 1);
  CHECK(due[0].state == AlertState::resolved);
  CHECK(due[0].resolved_at == kStart + 61s);
  CHECK(f.evaluator.take_due(kStart + 90s, 60s).empty());
  CHECK(f.evaluator.take_due(kStart + 121s, 60s).size() == 1);  // re-sent while retained
}

TEST_CASE("a firing alert below its threshold does not exist, at the threshold neither") {
  Fixture f;
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 300);
  f.run(kStart);
  CHECK(f.of("PostgresLongRunningQuery").empty());
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 300.5);
  f.run(kStart + 1s);
  CHECK(f.of("PostgresLongRunningQuery").size() == 1);
}

TEST_CASE("evidence is captured when the alert fires and kept") {
  Fixture f;
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 400);
  f.source.set_evidence("db1", "activity.top_sessions", "pid 4242 query: select pg_sleep(600)\n");
  f.run(kStart);
  auto alert = f.of("PostgresLongRunningQuery");
  REQUIRE(alert.size() == 1);
  CHECK(alert[0]->evidence.find("pid 4242 query: select pg_sleep(600)") != std::string::npos);
  f.source.set_evidence("db1", "activity.top_sessions", "pid 1 something else\n");
  f.run(kStart + 1s);
  CHECK(f.of("PostgresLongRunningQuery")[0]->evidence.find("pid 4242") != std::string::npos);
}

TEST_CASE("warning and critical are separate alerts of one rule") {
  Fixture f;
  f.source.set("db1", "pg_replication_lag_seconds", {}, 10);
  f.run(kStart);
  f.run(kStart + 60s);
  auto lag = f.of("PostgresReplicationLag");
  REQUIRE(lag.size() == 1);
  CHECK(label(*lag[0], "severity") == "warning");
  CHECK(lag[0]->state == AlertState::firing);

  f.source.set("db1", "pg_replication_lag_seconds", {}, 400);
  f.run(kStart + 61s);
  lag = f.of("PostgresReplicationLag");
  REQUIRE(lag.size() == 2);
  std::set<std::string> severities{label(*lag[0], "severity"), label(*lag[1], "severity")};
  CHECK(severities == std::set<std::string>{"warning", "critical"});
}

TEST_CASE("overrides: per-target thresholds, `for`, disabling, unknown keys warned once") {
  Fixture f;
  f.config.rules["PostgresLongRunningQuery"].thresholds = {{"threshold", 5}, {"treshold", 1}};
  f.config.rules["PostgresLongRunningQuery"].for_duration = 10s;
  f.config.rules["PostgresDown"].enabled = false;
  test::set_down(f.source, "db1", "refused");
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 6);
  f.run(kStart, false);
  f.run(kStart + 10s, false);
  CHECK(f.of("PostgresDown").empty());
  auto query = f.of("PostgresLongRunningQuery");
  REQUIRE(query.size() == 1);
  CHECK(query[0]->state == AlertState::firing);
  CHECK(query[0]->fired_at == kStart + 10s);
  REQUIRE(f.warnings.size() == 1);
  CHECK(f.warnings[0].find("treshold") != std::string::npos);
  CHECK(f.warnings[0].find("PostgresLongRunningQuery") != std::string::npos);
}

TEST_CASE("custom checks: severity and `for` from the check, evidence from its key") {
  Fixture f;
  config::CheckConfig check;
  check.name = "orders_recent";
  check.severity = "critical";
  check.for_duration = 20s;
  f.config.checks.push_back(check);
  f.source.set("db1", "pgvigil_check_ok", {{"check", "orders_recent"}}, 0);
  f.source.set("db1", "pgvigil_check_ok", {{"check", "fine"}}, 1);
  f.source.set_evidence("db1", "check.orders_recent", "value 0 (expected > 0)");
  f.run(kStart);
  f.run(kStart + 19s);
  auto failed = f.of("PostgresCustomCheckFailed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]->state == AlertState::pending);
  f.run(kStart + 20s);
  failed = f.of("PostgresCustomCheckFailed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]->state == AlertState::firing);
  CHECK(label(*failed[0], "severity") == "critical");
  CHECK(label(*failed[0], "check") == "orders_recent");
  CHECK(failed[0]->evidence.find("value 0 (expected > 0)") != std::string::npos);
}

TEST_CASE(
    "collector expectations: one alert per failing series, severity and `for` from the column") {
  Fixture f;
  config::CollectorConfig collector;
  collector.name = "app_queue";
  config::CollectorColumn depth;
  depth.name = "depth";
  depth.usage = config::ColumnUsage::gauge;
  depth.has_expect = true;
  depth.severity = "info";
  depth.for_duration = 5s;
  collector.columns.push_back(depth);
  f.config.collectors.push_back(collector);
  f.source.set("db1", "pgvigil_check_ok", {{"check", "app_queue_depth"}, {"queue", "mail"}}, 0);
  f.source.set("db1", "pgvigil_check_ok", {{"check", "app_queue_depth"}, {"queue", "sms"}}, 0);
  f.source.set("db1", "pgvigil_check_ok", {{"check", "app_queue_depth"}, {"queue", "push"}}, 1);
  f.source.set_evidence("db1", "check.app_queue_depth",
                        "{queue=\"mail\"} value 12 (expected < 10)");
  f.run(kStart);
  f.run(kStart + 5s);
  auto failed = f.of("PostgresCustomCheckFailed");
  REQUIRE(failed.size() == 2);
  for (const auto* alert : failed) {
    CHECK(alert->state == AlertState::firing);
    CHECK(label(*alert, "severity") == "info");
    CHECK(label(*alert, "check") == "app_queue_depth");
    CHECK(alert->evidence.find("value 12 (expected < 10)") != std::string::npos);
  }
  CHECK(label(*failed[0], "queue") != label(*failed[1], "queue"));
}

TEST_CASE("role change: fires when the counter rises, resolves after the window") {
  Fixture f;
  f.source.set("db1", "pg_role_changes_total", {}, 0);
  f.run(kStart);
  CHECK(f.of("PostgresRoleChanged").empty());
  f.source.set("db1", "pg_role_changes_total", {}, 1);
  f.run(kStart + 5s);
  REQUIRE(f.of("PostgresRoleChanged").size() == 1);
  CHECK(f.of("PostgresRoleChanged")[0]->state == AlertState::firing);
  f.run(kStart + 5s + 600s);
  CHECK(f.of("PostgresRoleChanged")[0]->state == AlertState::firing);
  f.run(kStart + 5s + 601s);
  CHECK(f.of("PostgresRoleChanged")[0]->state == AlertState::resolved);
}

TEST_CASE("a counter's first value is a baseline, not a rise (corruption)") {
  Fixture f;
  f.source.set("db1", "pg_stat_database_checksum_failures", {{"datname", "app"}}, 3);
  f.run(kStart);
  CHECK(f.of("PostgresCorruption").empty());
  f.source.set("db1", "pg_stat_database_checksum_failures", {{"datname", "app"}}, 4);
  f.run(kStart + 1s);
  auto corruption = f.of("PostgresCorruption");
  REQUIRE(corruption.size() == 1);
  CHECK(label(*corruption[0], "datname") == "app");
}

TEST_CASE("dead tuples: a recent autovacuum keeps the alert quiet") {
  Fixture f;
  const Labels table{{"datname", "app"}, {"schemaname", "public"}, {"relname", "orders"}};
  const double now = 1'800'000'000;
  f.source.set("db1", "pg_stat_user_tables_dead_tuple_ratio", table, 0.5);
  f.source.set("db1", "pg_stat_user_tables_last_autovacuum", table, now - 3600);
  f.config.rules["PostgresDeadTuples"].for_duration = 0s;
  f.run(kStart);
  CHECK(f.of("PostgresDeadTuples").empty());
  f.source.set("db1", "pg_stat_user_tables_last_autovacuum", table, now - 2 * 86400);
  f.run(kStart + 1s);
  REQUIRE(f.of("PostgresDeadTuples").size() == 1);
  CHECK(label(*f.of("PostgresDeadTuples")[0], "relname") == "orders");
}

TEST_CASE("table bloat: a large share alerts only over the byte floor") {
  Fixture f;
  f.config.rules["PostgresTableBloat"].for_duration = 0s;
  const Labels big{{"datname", "app"}, {"schemaname", "public"}, {"relname", "orders"}};
  const Labels small{{"datname", "app"}, {"schemaname", "public"}, {"relname", "lookup"}};
  f.source.set("db1", "pg_table_bloat_ratio", big, 0.4);
  f.source.set("db1", "pg_table_bloat_bytes", big, 4e9);
  f.source.set("db1", "pg_table_bloat_ratio", small, 0.9);
  f.source.set("db1", "pg_table_bloat_bytes", small, 5e8);
  f.run(kStart);
  CHECK(f.of("PostgresTableBloat").empty());
  f.source.set("db1", "pg_table_bloat_ratio", big, 0.7);
  f.source.set("db1", "pg_table_bloat_bytes", big, 7e9);
  f.run(kStart + 1s);
  const auto bloated = f.of("PostgresTableBloat");
  REQUIRE(bloated.size() == 1);
  CHECK(label(*bloated[0], "relname") == "orders");
}

TEST_CASE("an inactive slot alerts only when it retains more than the limit") {
  Fixture f;
  f.config.rules["PostgresReplicationSlotInactive"].for_duration = 0s;
  const Labels slot{{"slot_name", "old"}, {"slot_type", "physical"}, {"database", ""}};
  f.source.set("db1", "pg_replication_slots_active", slot, 0);
  f.source.set("db1", "pg_replication_slots_pg_wal_lsn_diff", slot, 1000);
  f.run(kStart);
  CHECK(f.of("PostgresReplicationSlotInactive").empty());
  f.source.set("db1", "pg_replication_slots_pg_wal_lsn_diff", slot, 2e9);
  f.run(kStart + 1s);
  REQUIRE(f.of("PostgresReplicationSlotInactive").size() == 1);
  f.source.set("db1", "pg_replication_slots_active", slot, 1);
  f.run(kStart + 2s);
  CHECK(f.of("PostgresReplicationSlotInactive")[0]->state == AlertState::resolved);
}

TEST_CASE("probe failing alerts only while the target is up") {
  Fixture f;
  const double now = 1'800'000'000;
  f.source.set("db1", "pgvigil_probe_last_success_timestamp_seconds", {{"probe", "vacuum"}},
               now - 700);
  f.run(kStart, false);
  CHECK(f.of("PgvigilProbeFailing").empty());
  f.run(kStart + 1s, true);
  auto failing = f.of("PgvigilProbeFailing");
  REQUIRE(failing.size() == 1);
  CHECK(label(*failing[0], "probe") == "vacuum");
  CHECK(failing[0]->value == doctest::Approx(701));
}

TEST_CASE("a removed target's alerts resolve") {
  Fixture f;
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 400);
  f.run(kStart);
  f.evaluator.evaluate(f.source, {}, kStart + 1s);
  auto query = f.of("PostgresLongRunningQuery");
  REQUIRE(query.size() == 1);
  CHECK(query[0]->state == AlertState::resolved);
}

TEST_CASE("metrics: counts per rule and state, one active series per alert") {
  Fixture f;
  test::set_down(f.source, "db1", "refused");
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 400);
  f.run(kStart, false);
  const auto families = f.evaluator.collect_metrics();
  const prometheus::MetricFamily* counts = nullptr;
  const prometheus::MetricFamily* active = nullptr;
  for (const auto& family : families) {
    if (family.name == "pgvigil_alerts") counts = &family;
    if (family.name == "pgvigil_alert_active") active = &family;
  }
  REQUIRE(counts != nullptr);
  REQUIRE(active != nullptr);
  CHECK(counts->metric.size() == rule_table().size() * 2);
  auto value_of = [&](std::string_view rule, std::string_view state) {
    for (const auto& m : counts->metric) {
      bool rule_ok = false, state_ok = false;
      for (const auto& l : m.label) {
        rule_ok = rule_ok || (l.name == "alertname" && l.value == rule);
        state_ok = state_ok || (l.name == "state" && l.value == state);
      }
      if (rule_ok && state_ok) return m.gauge.value;
    }
    return -1.0;
  };
  CHECK(value_of("PostgresDown", "pending") == 1);
  CHECK(value_of("PostgresDown", "firing") == 0);
  CHECK(value_of("PostgresLongRunningQuery", "firing") == 1);
  CHECK(active->metric.size() == 2);
}

TEST_CASE("evidence that arrives within a minute of firing is added and re-sent at once") {
  Fixture f;
  test::set_down(f.source, "db1", "refused");
  f.run(kStart, false);
  f.run(kStart + 30s, false);
  REQUIRE(f.of("PostgresDown").size() == 1);
  REQUIRE(f.of("PostgresDown")[0]->state == AlertState::firing);
  const std::string first = f.of("PostgresDown")[0]->evidence;
  CHECK(first.find("[logs.last.fatal]") == std::string::npos);
  CHECK(f.evaluator.take_due(kStart + 30s, 60s).size() == 1);
  CHECK(f.evaluator.take_due(kStart + 31s, 60s).empty());

  // The logs probe reads the FATAL line a round later.
  f.source.set_evidence("db1", "logs.last.fatal", "FATAL:  the database system is shutting down");
  f.run(kStart + 35s, false);
  const std::string completed = f.of("PostgresDown")[0]->evidence;
  CHECK(completed.find("[logs.last.fatal]") != std::string::npos);
  CHECK(completed.find("shutting down") != std::string::npos);
  auto due = f.evaluator.take_due(kStart + 35s, 60s);
  REQUIRE(due.size() == 1);  // not waiting for the resend interval
  CHECK(due[0].evidence == completed);
  CHECK(f.evaluator.take_due(kStart + 36s, 60s).empty());

  SUBCASE("later than a minute after firing, the evidence stays as it was") {
    f.source.set_evidence("db1", "logs.last.panic", "PANIC:  could not write to file");
    f.run(kStart + 30s + Evaluator::kEvidenceSettle + 1s, false);
    CHECK(f.of("PostgresDown")[0]->evidence == completed);
  }
}

TEST_CASE("unchanged input: verdicts are reused, `for` timers and resolution still run") {
  Fixture f;
  test::set_down(f.source, "db1", "refused");
  f.run_tracked(kStart, false);
  const auto first = f.evaluator.work();
  CHECK(first.targets_evaluated == 1);
  REQUIRE(f.of("PostgresDown").size() == 1);
  CHECK(f.of("PostgresDown")[0]->state == AlertState::pending);

  // Nothing changes for a minute: only clock-driven rules run again, and the
  // pending alert still turns firing when its `for` has passed.
  for (int second = 1; second <= 60; ++second)
    f.run_tracked(kStart + std::chrono::seconds(second), false);
  const auto later = f.evaluator.work();
  CHECK(later.targets_unchanged == 60);
  CHECK(later.targets_evaluated == 1);
  CHECK(later.rules_reused > 0);
  const auto run_per_round = (later.rules_run - first.rules_run) / 60;
  const auto reused_per_round = later.rules_reused / 60;
  CHECK(run_per_round < reused_per_round);  // most rules need no clock
  CHECK(f.of("PostgresDown")[0]->state == AlertState::firing);

  // A new input is evaluated at once: the server is back, the alert resolves.
  test::set_up(f.source, "db1");
  f.run_tracked(kStart + 61s, true);
  CHECK(f.evaluator.work().targets_evaluated == 2);
  CHECK(f.of("PostgresDown")[0]->state == AlertState::resolved);
}

TEST_CASE("unchanged input: a rule that reads the clock still turns with time") {
  Fixture f;
  f.source.set("db1", "pg_role_changes_total", {}, 0);
  f.run_tracked(kStart);
  f.source.set("db1", "pg_role_changes_total", {}, 1);
  f.run_tracked(kStart + 5s);
  REQUIRE(f.of("PostgresRoleChanged").size() == 1);
  CHECK(f.of("PostgresRoleChanged")[0]->state == AlertState::firing);
  f.run_tracked(kStart + 5s + 601s);  // same input, the window has passed
  CHECK(f.of("PostgresRoleChanged")[0]->state == AlertState::resolved);
}

TEST_CASE("unchanged input: a rule reading an untracked metric runs every round") {
  Fixture f;
  f.source.set_untracked("pg_stat_activity_longest_query_seconds");
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 10);
  f.run_tracked(kStart);
  f.run_tracked(kStart + 1s);
  CHECK(f.of("PostgresLongRunningQuery").empty());
  // The value moves but the generation does not (like a scheduler counter).
  f.source.set_quietly("db1", "pg_stat_activity_longest_query_seconds", {}, 900);
  f.run_tracked(kStart + 2s);
  CHECK(f.of("PostgresLongRunningQuery").size() == 1);
}

TEST_CASE("unchanged input: a tracked value changed behind the generation's back is not seen") {
  // The converse of the test above, proving the reuse is real: the daemon's
  // store always moves the generation, so this cannot happen there.
  Fixture f;
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 10);
  f.run_tracked(kStart);
  f.source.set_quietly("db1", "pg_stat_activity_longest_query_seconds", {}, 900);
  f.run_tracked(kStart + 1s);
  CHECK(f.of("PostgresLongRunningQuery").empty());
  f.source.set("db1", "pg_stat_activity_longest_query_seconds", {}, 900);  // the generation moves
  f.run_tracked(kStart + 2s);
  CHECK(f.of("PostgresLongRunningQuery").size() == 1);
}

TEST_CASE("unchanged input: a settled rule is reused until its declared time") {
  // PgvigilProbeFailing reads the clock and an untracked value, yet with no
  // probe stale it says when one could first be: the probe's last success
  // plus the limit. Until then it is reused (shown by a value moved back
  // behind the generation's back, which the daemon's scheduler never does).
  Fixture f;
  const double start = 1'800'000'000;
  f.source.set_untracked("pgvigil_probe_last_success_timestamp_seconds");
  f.source.set("db1", "pgvigil_probe_last_success_timestamp_seconds", {{"probe", "vacuum"}},
               start - 100);
  f.run_tracked(kStart);
  f.source.set_quietly("db1", "pgvigil_probe_last_success_timestamp_seconds", {{"probe", "vacuum"}},
                       start - 700);
  f.run_tracked(kStart + 10s);
  CHECK(f.of("PgvigilProbeFailing").empty());
  f.run_tracked(kStart + 500s);  // the limit of the value it last saw
  CHECK(f.of("PgvigilProbeFailing").size() == 1);
}

TEST_CASE("unchanged input: a settled rule still fires on time") {
  Fixture f;
  const double start = 1'800'000'000;
  f.source.set_untracked("pgvigil_probe_last_success_timestamp_seconds");
  f.source.set("db1", "pgvigil_probe_last_success_timestamp_seconds", {{"probe", "vacuum"}},
               start - 100);
  int first_alert = -1;
  for (int second = 0; second <= 700 && first_alert < 0; second += 10) {
    f.run_tracked(kStart + std::chrono::seconds(second));
    if (!f.of("PgvigilProbeFailing").empty()) first_alert = second;
  }
  CHECK(first_alert == 510);  // the first round past 600 s without success
}

TEST_CASE("unchanged input: an idle healthy target runs no rule once its rules settled") {
  // The memory- and clock-keeping rules of a quiet server (restarts, log
  // classes, probe staleness, disk forecast) declare themselves settled.
  Fixture f;
  const double start = 1'800'000'000;
  test::set_up(f.source, "db1");
  f.source.set_untracked("pgvigil_probe_last_success_timestamp_seconds");
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 0);
  f.source.set("db1", "pg_log_messages_total", {{"class", "crash"}}, 0);
  f.source.set("db1", "pg_log_messages_total", {{"class", "out_of_memory"}}, 0);
  f.source.set("db1", "pgvigil_probe_last_success_timestamp_seconds", {{"probe", "vacuum"}}, start);
  f.source.set("db1", "pg_filesystem_predicted_full_timestamp_seconds",
               {{"path", "/data"}, {"mountpoint", "/"}, {"role", "data"}},
               std::numeric_limits<double>::infinity());
  f.run_tracked(kStart);
  f.run_tracked(kStart + 1s);
  const auto settled = f.evaluator.work().rules_run;
  for (int second = 2; second < 62; ++second) f.run_tracked(kStart + std::chrono::seconds(second));
  CHECK(f.evaluator.work().rules_run == settled);
  CHECK(f.evaluator.alerts().empty());
  // A restart (a new input) is evaluated at once.
  f.source.set("db1", "pg_postmaster_restarts_total", {}, 1);
  f.run_tracked(kStart + 62s);
  CHECK(f.evaluator.work().rules_run > settled);
}
