// Issue 4: the monitoring queries' own cost, measured with pg_stat_statements
// on the fixture while the real daemon runs as pgvigil_monitor.
//
// Each statement pg_stat_statements saw from pgvigil_monitor is attributed to
// the probe that sends it by query identifier: the test asks the server for
// the identifier of every statement a probe builds (EXPLAIN VERBOSE prints the
// same identifier pg_stat_statements keys on). Utility statements (a custom
// check's BEGIN/SET/COMMIT) have no plan; they are matched by their text.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "probes/checks.hpp"
#include "probes/probe.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

// io is left out: pg_stat_io exists from 16 only, the fixture may be older.
constexpr std::string_view kMeasuredProbes[] = {
    "activity",   "connections", "settings", "locks",    "databases", "vacuum", "indexes",
    "statements", "replication", "slots",    "archiver", "bgwriter",  "wal",    "wait_events"};
constexpr auto kRunFor = 20s;

struct Statement {
  std::string probe;
  std::string name;
  std::string sql;
};

struct Observed {
  double calls = 0;
  double total_ms = 0;
  double max_mean_ms = 0;
  double databases = 0;
  std::string text;
};

double number(const std::optional<std::string>& cell) {
  return cell ? std::stod(*cell) : 0.0;
}

// The identifier pg_stat_statements will use for `sql`, or "" for statements
// EXPLAIN cannot take (utility statements).
std::string query_identifier(TestConnection& connection, const std::string& sql) {
  std::vector<std::vector<std::optional<std::string>>> plan;
  try {
    plan = connection.query("EXPLAIN (VERBOSE) " + sql);
  } catch (const std::exception&) {
    return "";
  }
  const std::string marker = "Query Identifier: ";
  for (const auto& row : plan) {
    if (row.empty() || !row[0]) continue;
    const auto at = row[0]->find(marker);
    if (at != std::string::npos) return row[0]->substr(at + marker.size());
  }
  return "";
}

pgvigil::ServerInfo server_info(TestConnection& connection) {
  pgvigil::ServerInfo info;
  const auto facts = connection.query(
      "SELECT current_setting('server_version_num'), current_setting('server_version'), "
      "pg_is_in_recovery()::text, EXISTS (SELECT 1 FROM pg_extension WHERE extname = "
      "'pg_stat_statements')::text");
  info.version_num = std::stoi(*facts[0][0]);
  info.version = *facts[0][1];
  info.in_recovery = *facts[0][2] == "true";
  info.has_pg_stat_statements = *facts[0][3] == "true";
  info.current_database = "postgres";
  info.current_user = "pgvigil_monitor";
  for (const auto& row : connection.query("SELECT name, setting FROM pg_settings"))
    if (row[0] && row[1]) info.settings.emplace(*row[0], *row[1]);
  return info;
}

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

}  // namespace

TEST_CASE("probe cost: statements per round and execution time, from pg_stat_statements") {
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  // Two databases for the per-database probe, a few tables to look at.
  admin.query("CREATE DATABASE app");
  {
    TestConnection app(cluster.conninfo(port, "app"));
    app.query("CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 10000) AS g");
    app.query("CREATE TABLE users AS SELECT g AS id FROM generate_series(1, 100) AS g");
  }

  std::string toml =
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n[log]\nlevel = "
      "\"info\"\n[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\nport = " +
      std::to_string(port) +
      "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
      cluster.monitor_password_file() + "\"\n";
  for (auto probe : kMeasuredProbes)
    toml += "[target.probes." + std::string(probe) + "]\ninterval = \"1s\"\n";
  pgvigil::config::CheckConfig check;
  check.name = "orders_present";
  check.database = "app";
  check.sql = "SELECT count(*) FROM orders";
  check.interval = pgvigil::config::Duration{1000};
  toml += "[[target.check]]\nname = \"" + check.name + "\"\ndatabase = \"" + check.database +
          "\"\nsql = \"" + check.sql + "\"\nexpect = \"> 0\"\ninterval = \"1s\"\n";
  {
    TestConnection app(cluster.conninfo(port, "app"));
    app.query("GRANT SELECT ON orders TO pgvigil_monitor");
  }

  // The statements each probe sends on this server, as the daemon builds them.
  const auto server = server_info(admin);
  pgvigil::config::TargetConfig target;
  target.name = "db";
  std::vector<Statement> statements;
  for (const auto& descriptor : pgvigil::probe_catalogue()) {
    if (!descriptor.make_sql) continue;
    auto probe = descriptor.make_sql();
    pgvigil::ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    for (auto& query : probe->queries(ctx))
      statements.push_back({std::string(descriptor.name), query.name, query.sql});
  }
  {
    auto probe = pgvigil::make_custom_check_probe(check);
    pgvigil::ProbeContext ctx{server, target, std::chrono::system_clock::now(), "app"};
    for (auto& query : probe->queries(ctx))
      statements.push_back({"check:" + check.name, query.name, query.sql});
  }

  admin.query("SELECT pg_stat_statements_reset()");
  const auto started = std::chrono::steady_clock::now();
  {
    DaemonProcess daemon(toml);
    REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));
    std::this_thread::sleep_for(kRunFor);
    CHECK(daemon.metric("pgvigil_check_ok", {{"target", "db"}, {"check", check.name}}) == 1.0);
  }  // the daemon stops here, so no statement is half counted
  const double ran_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::map<std::string, Observed> by_identifier;
  std::map<std::string, Observed> by_text;  // utility statements
  for (const auto& row :
       admin.query("SELECT queryid::text, sum(calls), sum(total_exec_time), max(mean_exec_time), "
                   "count(DISTINCT dbid), min(query) FROM pg_stat_statements "
                   "WHERE userid = 'pgvigil_monitor'::regrole GROUP BY queryid")) {
    Observed seen{number(row[1]), number(row[2]), number(row[3]), number(row[4]),
                  row[5].value_or("")};
    by_text[seen.text] = seen;
    by_identifier[row[0].value_or("")] = seen;
  }
  REQUIRE_FALSE(by_identifier.empty());

  struct ProbeCost {
    std::size_t statements = 0;
    double executions = 0;
    double total_ms = 0;
    double max_mean_ms = 0;
    double databases = 1;
    std::size_t missing = 0;
  };
  std::map<std::string, ProbeCost> per_probe;
  std::set<std::string> attributed;
  for (const auto& statement : statements) {
    auto& cost = per_probe[statement.probe];
    ++cost.statements;
    const auto identifier = query_identifier(admin, statement.sql);
    const Observed* seen = nullptr;
    if (!identifier.empty()) {
      if (auto it = by_identifier.find(identifier); it != by_identifier.end()) {
        seen = &it->second;
        attributed.insert(identifier);
      }
    } else if (auto it = by_text.find(statement.sql); it != by_text.end()) {
      seen = &it->second;
      for (const auto& [id, other] : by_identifier)
        if (other.text == statement.sql) attributed.insert(id);
    }
    if (seen == nullptr) {
      ++cost.missing;
      std::cout << "  not seen in pg_stat_statements: " << statement.probe << "/" << statement.name
                << "\n";
      continue;
    }
    cost.executions = std::max(cost.executions, seen->calls);
    cost.total_ms += seen->total_ms;
    cost.max_mean_ms = std::max(cost.max_mean_ms, seen->max_mean_ms);
    cost.databases = std::max(cost.databases, seen->databases);
  }
  ProbeCost unattributed;
  std::string unattributed_text;
  for (const auto& [id, seen] : by_identifier) {
    if (attributed.contains(id)) continue;
    ++unattributed.statements;
    unattributed.executions = std::max(unattributed.executions, seen.calls);
    unattributed.total_ms += seen.total_ms;
    unattributed.max_mean_ms = std::max(unattributed.max_mean_ms, seen.max_mean_ms);
    std::string text = seen.text.substr(0, 70);
    std::replace(text.begin(), text.end(), '\n', ' ');
    unattributed_text += "    " + format("%6.0f", seen.calls) + " calls  " +
                         format("%8.2f", seen.total_ms) + " ms  " + text + "\n";
  }

  std::cout << "\nprobe cost on the fixture (PostgreSQL " << server.version
            << "), every probe at 1 s, daemon ran " << format("%.1f", ran_seconds)
            << " s as pgvigil_monitor:\n";
  std::cout << "| probe | statements per round | rounds | total exec ms | exec ms per round | "
               "max mean ms per statement |\n|---|---|---|---|---|---|\n";
  double grand_total = 0;
  for (const auto& [probe, cost] : per_probe) {
    const double rounds = cost.executions / cost.databases;
    const std::string label =
        cost.databases > 1 ? probe + " (per database, " + format("%.0f", cost.databases) + ")"
                           : probe;
    std::cout << "| " << label << " | " << cost.statements << " | " << format("%.0f", rounds)
              << " | " << format("%.2f", cost.total_ms) << " | "
              << format("%.3f", rounds > 0 ? cost.total_ms / rounds : 0.0) << " | "
              << format("%.3f", cost.max_mean_ms) << " |\n";
    grand_total += cost.total_ms;
  }
  std::cout << "| daemon itself (liveness, server facts, database list) | "
            << unattributed.statements << " distinct | " << format("%.0f", unattributed.executions)
            << " (most frequent) | " << format("%.2f", unattributed.total_ms) << " | - | "
            << format("%.3f", unattributed.max_mean_ms) << " |\n";
  grand_total += unattributed.total_ms;
  std::cout << "total server execution time for monitoring: " << format("%.1f", grand_total)
            << " ms in " << format("%.1f", ran_seconds) << " s ("
            << format("%.3f", grand_total / ran_seconds / 10.0)
            << " % of one core)\nstatements not attributed to a probe:\n"
            << unattributed_text << "\n";

  // Sanity only: every probe's statements ran, none is expensive.
  for (auto probe : kMeasuredProbes) {
    CAPTURE(probe);
    const auto it = per_probe.find(std::string(probe));
    REQUIRE(it != per_probe.end());
    CHECK(it->second.missing == 0);
    CHECK(it->second.executions >= 5);  // ~20 rounds at 1 s
  }
  CHECK(per_probe["check:" + check.name].missing == 0);
  CHECK(per_probe["vacuum"].databases == 2.0);
  CHECK(per_probe["indexes"].databases == 2.0);
  for (const auto& [id, seen] : by_identifier) {
    CAPTURE(seen.text);
    CHECK(seen.max_mean_ms < 100.0);
  }
}
