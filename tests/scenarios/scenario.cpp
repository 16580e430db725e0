#include "scenarios/scenario.hpp"

#include <doctest/doctest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "support/daemon_process.hpp"

namespace pgvigil::scenarios {

namespace {

std::string format_millis(const std::optional<Millis>& value) {
  if (!value) return "—";
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << static_cast<double>(value->count()) / 1000.0 << " s";
  return out.str();
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

// Pipes would split a markdown cell.
std::string cell(std::string text) {
  for (auto& c : text)
    if (c == '|' || c == '\n') c = '/';
  return text;
}

constexpr const char* kTableHead =
    "| # | scenario | runbook seed | alert (labels asserted) | thresholds used | detection | "
    "resolution | notes | result | run |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n";

// Every alert in a group of its own: one webhook body per alert.
test::AlertmanagerOptions alertmanager_options(int webhook_port) {
  test::AlertmanagerOptions options;
  options.webhook_port = webhook_port;
  options.group_by = "'...'";
  return options;
}

}  // namespace

Scenario::Scenario(ScenarioInfo info)
    : info_(std::move(info)), alertmanager_(alertmanager_options(hook_.port())) {
  if (!test::has_alertmanager())
    throw std::runtime_error("prometheus-alertmanager is not installed");
  alertmanager_.start();
}

Scenario::~Scenario() {
  try {
    std::string cells = cell(info_.title) + " | " + cell(info_.seed) + " | " + cell(info_.alert) +
                        " | " + cell(info_.thresholds) + " | " + format_millis(detection_) + " | " +
                        format_millis(resolution_) + " | " + cell(notes_) + " | " +
                        (passed_ ? "passed" : "**failed**") + " | " + utc_now();
    upsert_results_row(std::string(PGVIGIL_SOURCE_DIR) + "/docs/scenarios.md", {info_.id, cells});
  } catch (const std::exception& e) {
    std::cerr << "scenario " << info_.id << ": cannot write docs/scenarios.md: " << e.what()
              << "\n";
  }
}

std::string Scenario::daemon_config(const std::string& rules, const std::string& targets) const {
  // The probes' default intervals (5-60 s) divided so that each scaled
  // threshold is seen within about a second.
  std::string config =
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[log]\nlevel = \"debug\"\n";
  for (const auto& [probe, interval] : std::map<std::string, std::string>{{"liveness", "500ms"},
                                                                          {"activity", "1s"},
                                                                          {"connections", "1s"},
                                                                          {"locks", "1s"},
                                                                          {"databases", "1s"},
                                                                          {"replication", "1s"},
                                                                          {"archiver", "1s"},
                                                                          {"slots", "2s"},
                                                                          {"datadir", "1s"},
                                                                          {"disk", "1s"},
                                                                          {"logs", "500ms"},
                                                                          {"backups", "1s"},
                                                                          {"vacuum", "2s"}})
    config += "[probes." + probe + "]\ninterval = \"" + interval + "\"\n";
  config += "[alerting]\nalertmanagers = [\"" + alertmanager_.url() +
            "\"]\nevaluation_interval = \"250ms\"\nresend_interval = \"5s\"\n"
            "send_timeout = \"2s\"\n" +
            rules + targets;
  return config;
}

WebhookAlert Scenario::await(const std::string& alertname, const std::string& status,
                             const Labels& labels, Millis limit, std::size_t skip,
                             const std::string& daemon_log) {
  auto alert = test::wait_for_alert(hook_, alertname, status, labels, limit, skip);
  if (!alert) {
    std::cerr << "no " << status << " " << alertname << " within " << limit.count()
              << " ms; the webhook received:\n";
    for (const auto& seen : test::webhook_alerts(hook_))
      std::cerr << "  " << seen.label("alertname") << " " << seen.status << " "
                << seen.label("severity") << "\n";
    if (!daemon_log.empty()) std::cerr << "daemon log:\n" << daemon_log;
  }
  REQUIRE_MESSAGE(alert.has_value(), "no " << status << " " << alertname << " at the webhook");
  return *alert;
}

WebhookAlert Scenario::detect(const std::string& alertname, const Labels& labels,
                              SteadyClock::time_point condition_at, Millis limit,
                              const std::string& daemon_log) {
  auto alert = await(alertname, "firing", labels, limit, 0, daemon_log);
  const auto took = std::chrono::duration_cast<Millis>(alert.received_at - condition_at);
  if (!detection_) detection_ = took;
  std::cout << "scenario " << info_.id << ": " << alertname << " firing at the webhook after "
            << took.count() << " ms\n";
  return alert;
}

WebhookAlert Scenario::resolve(const std::string& alertname, const Labels& labels,
                               SteadyClock::time_point recovery_at, Millis limit,
                               const std::string& daemon_log) {
  // Only notifications sent after the recovery step count.
  std::size_t skip = 0;
  const auto requests = hook_.requests();
  while (skip < requests.size() && requests[skip].at < recovery_at) ++skip;
  auto alert = await(alertname, "resolved", labels, limit, skip, daemon_log);
  const auto took = std::chrono::duration_cast<Millis>(alert.received_at - recovery_at);
  if (!resolution_) resolution_ = took;
  std::cout << "scenario " << info_.id << ": " << alertname << " resolved at the webhook after "
            << took.count() << " ms\n";
  return alert;
}

void Scenario::check_no_unrelated_critical() {
  for (const auto& alert : test::webhook_alerts(hook_)) {
    if (alert.status != "firing" || alert.label("severity") != "critical") continue;
    INFO("critical alert " << alert.label("alertname") << " on " << alert.label("target")
                           << ", evidence: " << alert.annotation("evidence"));
    CHECK(info_.related_critical.count(alert.label("alertname")) == 1);
  }
}

void Scenario::passed() {
  passed_ = true;
}

std::string target_toml(const std::string& name, const test::PgCluster& cluster, int port,
                        const std::string& extra) {
  return "[[target]]\nname = \"" + name +
         "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
         cluster.monitor_password_file() + "\"\n" + extra;
}

std::string rule_toml(const std::string& name, const std::map<std::string, std::string>& keys) {
  std::string out = "[alerting.rules." + name + "]\n";
  for (const auto& [key, value] : keys) out += key + " = " + value + "\n";
  return out;
}

Millis since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - start);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void upsert_results_row(const std::string& path, const TableRow& row) {
  std::map<int, std::string> rows;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.starts_with("| ")) continue;
      const auto end = line.find(" |", 2);
      if (end == std::string::npos) continue;
      try {
        std::size_t used = 0;
        const std::string id_text = line.substr(2, end - 2);
        const int id = std::stoi(id_text, &used);
        if (used == id_text.size()) rows[id] = line;
      } catch (const std::exception&) {
        // the header row or foreign text: regenerated below
      }
    }
  }
  rows[row.id] = "| " + std::to_string(row.id) + " | " + row.cells + " |";
  std::ostringstream out;
  out << "# Runbook scenarios\n\n"
         "Generated by the scenario suite (`tests/scenarios`, ctest label `scenario`): each row\n"
         "is rewritten whenever its scenario runs. Every scenario builds the failure of a\n"
         "runbook in `shared/seeds` on throwaway PostgreSQL 15 servers, runs the real pgvigil\n"
         "binary with the thresholds scaled down (the only difference from the defaults of\n"
         "`docs/alerts.md`), and waits for the alert at the webhook receiver of a real\n"
         "Alertmanager (group_wait 100ms). Detection: from the moment the condition was\n"
         "created to the notification's arrival at the webhook. Resolution: from the\n"
         "runbook's recovery step to the resolved notification.\n\n"
         "Seeds: 000 = P0 database failure, 001 = database failover, 002 = database failure\n"
         "(unreachable primary, slow queries, disk full), 003 = database failure recovery\n"
         "(pool exhaustion, crash/corruption, replication lag), 004 = database outage\n"
         "(Patroni failover, disk full, RPO).\n\n"
      << kTableHead;
  for (const auto& [id, line] : rows) out << line << "\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + tmp);
    file << out.str();
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp);
}

}  // namespace pgvigil::scenarios

TEST_CASE("scenario table: a row is replaced by id, other rows and order are kept") {
  using pgvigil::scenarios::upsert_results_row;
  const auto dir = pgvigil::test::make_temp_dir("pgvigil-scenario-table");
  const std::string path = dir + "/scenarios.md";
  upsert_results_row(path, {10, "ten | old"});
  upsert_results_row(path, {2, "two"});
  upsert_results_row(path, {10, "ten | new"});
  const auto text = pgvigil::test::read_file(path);
  CHECK(text.find("| 10 | ten | new |") != std::string::npos);
  CHECK(text.find("ten | old") == std::string::npos);
  CHECK(text.find("| 2 | two |") < text.find("| 10 | ten | new |"));
  CHECK(text.find("| # | scenario |") != std::string::npos);
  std::filesystem::remove_all(dir);
}
