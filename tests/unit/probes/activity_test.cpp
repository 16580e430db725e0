#include <doctest/doctest.h>

#include <string>

#include "data/sql/recorded.hpp"
#include "probes/activity.hpp"

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
                {{"datname", "appdb"}, {"state", "idle in transaction"}}) > 60);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 0);
}

TEST_CASE("activity: summary durations and lock waits") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.value("pg_stat_activity_waiting_on_lock") == 1);
  CHECK(f.value("pg_stat_activity_blocked_sessions") == 1);
  CHECK(f.value("pg_stat_activity_oldest_idle_in_transaction_seconds") > 60);
  CHECK(f.value("pg_stat_activity_longest_query_seconds") > 60);
  CHECK(f.value("pg_stat_activity_longest_lock_wait_seconds") > 60);
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
  const auto& top = evidence.at("activity.top_sessions");
  CHECK(line_count(top) == f.results[2].rows.size());
  CHECK(top.find("application=report") != std::string::npos);
  CHECK(top.find("SELECT pg_sleep(900)") != std::string::npos);
  CHECK(top.find("application=pgvigil") == std::string::npos);
  const auto& idle = evidence.at("activity.idle_in_transaction");
  CHECK(idle.find("application=batch_job") != std::string::npos);
  CHECK(idle.find("state=idle in transaction (aborted)") != std::string::npos);
  const auto& chain = evidence.at("activity.blocking_chain");
  const std::string waiter(*f.results[4].text(0, "pid"));
  const std::string blocker(*f.results[4].text(0, "blocking_pid"));
  CHECK(chain.find("pid " + waiter + " ") == 0);
  CHECK(chain.find("blocked by pid " + blocker) != std::string::npos);
  CHECK(chain.find("SELECT count(*) FROM lockme") != std::string::npos);
}

TEST_CASE("activity: lock wait start comes from pg_locks.waitstart only from 14 on") {
  config::TargetConfig target;
  for (int version : {120000, 130000, 140000, 160000, 170000}) {
    auto server = recorded::server(version);
    ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
    auto queries = make_activity_probe()->queries(ctx);
    REQUIRE(queries.size() == 5);
    CHECK_MESSAGE((queries[1].sql.find("waitstart") != std::string::npos) == (version >= 140000),
                  version);
  }
}

TEST_CASE("activity: a failed statement skips only what it feeds") {
  Fixture f;
  f.results[1] = QueryResult::failure("57014", "canceling statement due to statement timeout");
  f.results[4] = QueryResult::failure("XX000", "boom");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.find("pg_stat_activity_waiting_on_lock") == nullptr);
  CHECK(f.sink.find("pg_stat_activity_longest_query_seconds") == nullptr);
  CHECK_FALSE(f.sink.evidence().contains("activity.blocking_chain"));
  CHECK(f.sink.series_count("pg_stat_activity_count") == 12);
  CHECK(f.sink.evidence().contains("activity.top_sessions"));
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 0);
}

TEST_CASE("activity: permission denied is reported instead of the samples") {
  Fixture f;
  f.results[0] = QueryResult::failure("42501", "permission denied for view pg_stat_activity");
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.value("pgvigil_probe_permission_denied", {{"probe", "activity"}}) == 1);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 0);
  CHECK(f.sink.find("pg_stat_activity_waiting_on_lock") != nullptr);
}

TEST_CASE("activity: NULL cells give no sample, odd input does not throw") {
  Fixture f;
  f.results[0] = QueryResult::from_rows({"datname", "state", "count", "max_tx_duration"},
                                        {{"db", "active", std::nullopt, "3"},
                                         {std::nullopt, "idle", "1", "0"},
                                         {"db", "idle", "not a number", std::nullopt}});
  f.results[1] = QueryResult::from_rows({"waiting_on_lock"}, {});
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.series_count("pg_stat_activity_count") == 0);
  CHECK(f.sink.series_count("pg_stat_activity_max_tx_duration") == 1);
  CHECK(f.value("pg_stat_activity_max_tx_duration", {{"datname", "db"}, {"state", "active"}}) == 3);
  CHECK(f.sink.find("pg_stat_activity_waiting_on_lock") == nullptr);

  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
}

TEST_CASE("activity: query texts in evidence are cut at 200 bytes on a character boundary") {
  Fixture f;
  std::string long_query = "SELECT '";
  for (int i = 0; i < 150; ++i) long_query += "\xc3\xa9";  // é, two bytes each
  long_query += "'\nFROM t";
  f.results[2] = QueryResult::from_rows(
      {"pid", "usename", "application_name", "datname", "state", "duration_seconds", "query"},
      {{"1", "u", "a", "d", "active", "2.5", long_query}});
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
