#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "data/sql/recorded.hpp"
#include "probes/activity.hpp"
#include "probes/client_sessions.hpp"
#include "probes/connections.hpp"
#include "probes/wait_events.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_activity_probe();
  std::vector<QueryResult> results = recorded::load_all("activity", probe->queries(ctx));
  SampleSink sink;

  double value(std::string_view name, const Labels& labels = {}) {
    const auto* metric = sink.find(name, labels);
    REQUIRE_MESSAGE(metric != nullptr, name);
    return metric->gauge.value;
  }
};

std::size_t line_count(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  return lines;
}

}  // namespace

TEST_CASE("activity: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("activity", f.probe->queries(f.ctx));
}

TEST_CASE("activity: counts every state per database with client backends") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // Recorded with one idle-in-transaction session holding a lock, one
  // session waiting for it and one aborted transaction in appdb.
  CHECK(f.value("pg_stat_activity_count",
                {{"datname", "appdb"}, {"state", "idle in transaction"}}) == 1);
  CHECK(f.value("pg_stat_activity_count",
                {{"datname", "appdb"}, {"state", "idle in transaction (aborted)"}}) == 1);
  CHECK(f.value("pg_stat_activity_count", {{"datname", "appdb"}, {"state", "active"}}) == 1);
  CHECK(f.value("pg_stat_activity_count", {{"datname", "appdb"}, {"state", "disabled"}}) == 0);
  // 6 states x 2 databases (appdb, postgres), templates have no clients.
  CHECK(f.sink.series_count("pg_stat_activity_count") == 12);
  CHECK(f.sink.series_count("pg_stat_activity_max_tx_duration") == 12);
  CHECK(f.value("pg_stat_activity_max_tx_duration",
                {{"datname", "appdb"}, {"state", "idle in transaction"}}) > 0);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 0);
}

TEST_CASE("activity: per-database series only for the databases the target selects") {
  // One server, many targets: a target keeps its own databases' series and
  // the server-wide summary, and never builds the rest.
  Fixture f;
  const std::vector<std::string> include{"app*"};
  const std::vector<std::string> none;
  ProbeContext narrowed{f.server, f.target, f.ctx.now, "postgres", DatabasePatterns{include, none}};
  f.probe->collect(narrowed, f.results, f.sink);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 6);
  CHECK(f.sink.series_count("pg_stat_activity_max_tx_duration") == 6);
  CHECK(f.sink.find("pg_stat_activity_count", {{"datname", "postgres"}, {"state", "idle"}}) ==
        nullptr);
  CHECK(f.value("pg_stat_activity_count",
                {{"datname", "appdb"}, {"state", "idle in transaction"}}) == 1);
  CHECK(f.value("pg_stat_activity_waiting_on_lock") == 1);

  SampleSink excluded;
  const std::vector<std::string> exclude{"appdb"};
  ProbeContext without_app{f.server, f.target, f.ctx.now, "postgres",
                           DatabasePatterns{none, exclude}};
  f.probe->collect(without_app, f.results, excluded);
  CHECK(excluded.series_count("pg_stat_activity_count") == 6);
  CHECK(excluded.find("pg_stat_activity_count", {{"datname", "appdb"}, {"state", "active"}}) ==
        nullptr);
  CHECK(excluded.find("pg_stat_activity_waiting_on_lock") != nullptr);
}

TEST_CASE("activity: summary durations and lock waits") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.value("pg_stat_activity_waiting_on_lock") == 1);
  CHECK(f.value("pg_stat_activity_blocked_sessions") == 1);
  CHECK(f.value("pg_stat_activity_oldest_idle_in_transaction_seconds") > 0);
  CHECK(f.value("pg_stat_activity_longest_query_seconds") > 0);
  CHECK(f.value("pg_stat_activity_longest_lock_wait_seconds") > 0);
  // The idle transaction began before the waiter queued behind it.
  CHECK(f.value("pg_stat_activity_oldest_idle_in_transaction_seconds") >
        f.value("pg_stat_activity_longest_lock_wait_seconds"));
}

TEST_CASE("activity: evidence names sessions, the idle transactions and who blocks whom") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& evidence = f.sink.evidence();
  REQUIRE(evidence.contains("activity.top_sessions"));
  REQUIRE(evidence.contains("activity.idle_in_transaction"));
  REQUIRE(evidence.contains("activity.blocking_chain"));
  const auto sessions = read_client_sessions(f.results[0]);
  std::size_t busy = 0;
  std::string waiter;
  std::vector<std::string> blockers;
  for (const auto& session : sessions) {
    if (!session.own && !session.in_state("idle")) ++busy;
    if (session.waits_on_lock()) {
      waiter = session.pid;
      blockers = session.blocking_pids;
    }
  }
  const auto& top = evidence.at("activity.top_sessions");
  CHECK(line_count(top) == std::min<std::size_t>(busy, 5));
  CHECK(top.find("application=report") != std::string::npos);
  CHECK(top.find("SELECT pg_sleep(900)") != std::string::npos);
  CHECK(top.find("application=pgvigil") == std::string::npos);
  const auto& idle = evidence.at("activity.idle_in_transaction");
  CHECK(idle.find("application=batch_job") != std::string::npos);
  CHECK(idle.find("state=idle in transaction (aborted)") != std::string::npos);
  const auto& chain = evidence.at("activity.blocking_chain");
  REQUIRE_FALSE(waiter.empty());
  REQUIRE(blockers.size() == 1);
  CHECK(chain.find("pid " + waiter + " ") == 0);
  CHECK(chain.find("blocked by pid " + blockers[0]) != std::string::npos);
  CHECK(chain.find("SELECT count(*) FROM lockme") != std::string::npos);
  // The blocker is idle in its transaction, yet its last statement is shown.
  CHECK(chain.find("LOCK TABLE lockme") != std::string::npos);
}

TEST_CASE("activity: lock wait start comes from pg_locks.waitstart only from 14 on") {
  config::TargetConfig target;
  for (int version : {120000, 130000, 140000, 160000, 170000}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    auto queries = make_activity_probe()->queries(ctx);
    REQUIRE(queries.size() == 1);
    CHECK_MESSAGE((queries[0].sql.find("waitstart") != std::string::npos) == (version >= 140000),
                  version);
  }
}

TEST_CASE("activity, connections and wait_events ask for the same statement") {
  // The session sends a statement asked for twice in one batch once: the
  // three probes share one read of pg_stat_activity when due together.
  for (int version : {130000, 150000, 180000}) {
    auto server = recorded::server(version);
    config::TargetConfig target;
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    const auto activity = make_activity_probe()->queries(ctx);
    const auto connections = make_connections_probe()->queries(ctx);
    const auto wait_events = make_wait_events_probe()->queries(ctx);
    REQUIRE(activity.size() == 1);
    REQUIRE(connections.size() == 1);
    REQUIRE(wait_events.size() == 1);
    CHECK(activity[0].sql == connections[0].sql);
    CHECK(activity[0].sql == wait_events[0].sql);
  }
}

TEST_CASE("activity: a failed statement gives no series and no evidence") {
  Fixture f;
  f.results[0] = QueryResult::failure("57014", "canceling statement due to statement timeout");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.find("pg_stat_activity_waiting_on_lock") == nullptr);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 0);
  CHECK_FALSE(f.sink.evidence().contains("activity.top_sessions"));
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 0);
}

TEST_CASE("activity: permission denied is reported instead of the samples") {
  Fixture f;
  f.results[0] = QueryResult::failure("42501", "permission denied for view pg_stat_activity");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 1);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 0);
}

namespace {

const std::vector<std::string> kSessionColumns{"pid",           "datname",
                                               "usename",       "application_name",
                                               "state",         "wait_event_type",
                                               "wait_event",    "own",
                                               "xact_seconds",  "query_seconds",
                                               "state_seconds", "lock_wait_seconds",
                                               "blocking_pids", "query"};

}  // namespace

TEST_CASE("activity: NULL cells give no sample, odd input does not throw") {
  Fixture f;
  f.results[0] = QueryResult::from_rows(
      kSessionColumns, {{"1", "db", "u", "app", "active", std::nullopt, std::nullopt, "f", "3", "3",
                         "3", std::nullopt, std::nullopt, "SELECT 1"},
                        // no database: counted nowhere by state
                        {"2", std::nullopt, "u", "app", "idle", std::nullopt, std::nullopt, "f",
                         std::nullopt, "1", "1", std::nullopt, std::nullopt, std::nullopt},
                        // ages that are not numbers are absent, a garbled pid array is empty
                        {"3", "db", "u", "app", "active", "Lock", "relation", "f", "not a number",
                         "x", "y", "z", "{7,oops", "SELECT 2"},
                        // no pid: skipped
                        {std::nullopt, "db", "u", "app", "active", std::nullopt, std::nullopt, "f",
                         "9", "9", "9", std::nullopt, std::nullopt, "SELECT 3"},
                        // a short row: skipped
                        {"5", "db"}});
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 6);  // db only
  CHECK(f.value("pg_stat_activity_count", {{"datname", "db"}, {"state", "active"}}) == 2);
  CHECK(f.value("pg_stat_activity_max_tx_duration", {{"datname", "db"}, {"state", "active"}}) == 3);
  CHECK(f.value("pg_stat_activity_waiting_on_lock") == 1);
  CHECK(f.value("pg_stat_activity_blocked_sessions") == 0);
  CHECK(f.value("pg_stat_activity_longest_lock_wait_seconds") == 0);
  CHECK(f.value("pg_stat_activity_longest_query_seconds") == 3);

  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
  std::vector<QueryResult> no_columns{QueryResult::from_rows({}, {{}})};
  CHECK_NOTHROW(f.probe->collect(f.ctx, no_columns, empty));
}

TEST_CASE("activity: pid arrays in PostgreSQL's text form") {
  CHECK(parse_pid_array("{}").empty());
  CHECK(parse_pid_array("{12}") == std::vector<std::string>{"12"});
  CHECK(parse_pid_array("{12,345}") == std::vector<std::string>{"12", "345"});
  CHECK(parse_pid_array("12,345").empty());
  CHECK(parse_pid_array("{12,x,7}") == std::vector<std::string>{"12", "7"});
  CHECK(parse_pid_array("").empty());
}

TEST_CASE("activity: query texts in evidence are cut at 200 bytes on a character boundary") {
  Fixture f;
  std::string long_query = "SELECT '";
  for (int i = 0; i < 150; ++i) long_query += "\xc3\xa9";  // é, two bytes each
  long_query += "'\nFROM t";
  f.results[0] = QueryResult::from_rows(
      kSessionColumns, {{"1", "d", "u", "a", "active", std::nullopt, std::nullopt, "f", "2.5",
                         "2.5", "2.5", std::nullopt, std::nullopt, long_query}});
  f.probe->collect(f.ctx, f.results, f.sink);
  const auto& top = f.sink.evidence().at("activity.top_sessions");
  const auto query_at = top.find("query: ");
  REQUIRE(query_at != std::string::npos);
  const std::string shown = top.substr(query_at + 7, top.size() - query_at - 8);
  CHECK(shown.size() <= 203);
  CHECK(shown.ends_with("..."));
  CHECK((static_cast<unsigned char>(shown[shown.size() - 4]) & 0xC0) != 0xC0);  // no cut lead byte
  CHECK(top.find("duration=2.5s") != std::string::npos);
}
