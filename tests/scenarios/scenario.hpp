#pragma once
// Shared plumbing of the runbook scenario suite (issue 9): one Alertmanager
// and webhook per scenario, the daemon's config with thresholds scaled down,
// assertions on what reaches the webhook, and the results table in
// docs/scenarios.md.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "support/alert_harness.hpp"
#include "support/pg_cluster.hpp"

namespace pgvigil::scenarios {

using Labels = std::map<std::string, std::string>;
using Millis = std::chrono::milliseconds;
using test::SteadyClock;
using test::WebhookAlert;

// What the table says about one scenario.
struct ScenarioInfo {
  int id = 0;
  std::string title;
  std::string seed;        // the runbook(s) in shared/seeds it reproduces
  std::string alert;       // the alert(s) asserted
  std::string thresholds;  // the scaled thresholds, as configured
  // Critical alerts that belong to this failure; any other critical alert
  // reaching the webhook fails the scenario.
  std::set<std::string> related_critical;
};

class Scenario {
 public:
  explicit Scenario(ScenarioInfo info);
  // Writes this scenario's row into docs/scenarios.md, marked failed unless
  // passed() was called.
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  test::HttpRecorder& hook() { return hook_; }
  test::AlertmanagerProcess& alertmanager() { return alertmanager_; }

  // state_directory, listener, probe intervals scaled down, and [alerting]
  // pointing at this scenario's Alertmanager; `rules` holds the
  // [alerting.rules.*] tables and `targets` the [[target]] tables.
  std::string daemon_config(const std::string& rules, const std::string& targets) const;

  // Waits (REQUIRE) for the first `status` alert named `alertname` carrying
  // `labels` that arrived after webhook request `skip`; prints the daemon log
  // on timeout.
  WebhookAlert await(const std::string& alertname, const std::string& status, const Labels& labels,
                     Millis limit, std::size_t skip = 0, const std::string& daemon_log = {});
  // The same, recording the time from `condition_at` as the detection time
  // (firing) or the resolution time (resolved) of the table.
  WebhookAlert detect(const std::string& alertname, const Labels& labels,
                      SteadyClock::time_point condition_at, Millis limit,
                      const std::string& daemon_log = {});
  WebhookAlert resolve(const std::string& alertname, const Labels& labels,
                       SteadyClock::time_point recovery_at, Millis limit,
                       const std::string& daemon_log = {});
  // Records a detection time measured by the test itself (second stage).
  void note(const std::string& text) { notes_ += (notes_.empty() ? "" : "; ") + text; }

  // CHECKs that no critical alert outside related_critical reached the webhook.
  void check_no_unrelated_critical();
  void passed();

 private:
  ScenarioInfo info_;
  test::HttpRecorder hook_;
  test::AlertmanagerProcess alertmanager_;
  std::optional<Millis> detection_;
  std::optional<Millis> resolution_;
  std::string notes_;
  bool passed_ = false;
};

// A [[target]] table for a fixture server, connecting as pgvigil_monitor.
std::string target_toml(const std::string& name, const test::PgCluster& cluster, int port,
                        const std::string& extra = {});

// "[alerting.rules.NAME]" with the given key = value lines (values as TOML).
std::string rule_toml(const std::string& name, const std::map<std::string, std::string>& keys);

Millis since(SteadyClock::time_point start);
bool contains(const std::string& text, const std::string& part);

// Upserts one row into the table of `path` (docs/scenarios.md), keeping the
// rows of the other scenarios. Exposed for the table's own test.
struct TableRow {
  int id = 0;
  std::string cells;  // the row's cells after the id, "a | b | ..."
};
void upsert_results_row(const std::string& path, const TableRow& row);

}  // namespace pgvigil::scenarios
