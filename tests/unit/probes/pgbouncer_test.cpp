// pgbouncer's SHOW results -> samples, on replies captured from a real
// pgbouncer 1.18 (tests/data/pgbouncer/README.md), the bad-input cases and
// the classification of its refusals.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "probes/pgbouncer.hpp"

using namespace pgvigil;
using namespace pgvigil::pgbouncer;

namespace {

// A psql -A capture: the header, rows split at '|', "<NULL>" for NULL, and
// psql's "(N rows)" footer (ignored).
QueryResult recorded(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/pgbouncer/" + name);
  REQUIRE_MESSAGE(in.good(), name);
  const auto split = [](const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', start)) {
      fields.push_back(line.substr(start, bar - start));
      start = bar + 1;
    }
    fields.push_back(line.substr(start));
    return fields;
  };
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto columns = split(line);
  std::vector<std::vector<std::optional<std::string>>> rows;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("(")) continue;
    std::vector<std::optional<std::string>> row;
    for (auto& field : split(line))
      row.push_back(field == "<NULL>" ? std::nullopt : std::optional<std::string>(field));
    REQUIRE(row.size() == columns.size());
    rows.push_back(std::move(row));
  }
  return QueryResult::from_rows(columns, std::move(rows));
}

std::vector<QueryResult> round_with(const std::string& pools_file = "show_pools.txt") {
  return {recorded("show_version.txt"),   recorded(pools_file),       recorded("show_stats.txt"),
          recorded("show_databases.txt"), recorded("show_lists.txt"), recorded("show_config.txt")};
}

double value(const SampleSink& sink, std::string_view name, const Labels& labels = {}) {
  const auto* metric = sink.find(name, labels);
  REQUIRE_MESSAGE(metric != nullptr, name);
  for (const auto& family : sink.families())
    if (family.name == name) return sample_value(family, *metric);
  return -1;
}

const Labels kPool{{"database", "postgres"}, {"user", "postgres"}};

}  // namespace

TEST_CASE("pgbouncer: one captured round gives pool, stats, database, list and config samples") {
  SampleSink sink;
  const auto result = collect(round_with(), sink);
  INFO(result.error);
  REQUIRE(result.ok);
  CHECK(result.version == "1.18.0");
  CHECK(value(sink, "pgbouncer_version_info", {{"version", "1.18.0"}}) == 1);

  // The pool three pg_sleep clients shared with pool_size 2.
  CHECK(value(sink, "pgbouncer_pools_client_active_connections", kPool) == 2);
  CHECK(value(sink, "pgbouncer_pools_client_waiting_connections", kPool) == 1);
  CHECK(value(sink, "pgbouncer_pools_server_active_connections", kPool) == 2);
  CHECK(value(sink, "pgbouncer_pools_server_idle_connections", kPool) == 0);
  CHECK(value(sink, "pgbouncer_pools_server_used_connections", kPool) == 0);
  CHECK(value(sink, "pgbouncer_pools_server_testing_connections", kPool) == 0);
  CHECK(value(sink, "pgbouncer_pools_server_login_connections", kPool) == 0);
  // maxwait 1 s plus maxwait_us 148383.
  CHECK(value(sink, "pgbouncer_pools_client_maxwait_seconds", kPool) == doctest::Approx(1.148383));
  // The admin console's own pool is a pool like any other.
  CHECK(value(sink, "pgbouncer_pools_client_active_connections",
              {{"database", "pgbouncer"}, {"user", "pgbouncer"}}) == 1);

  const Labels stats{{"database", "postgres"}};
  CHECK(value(sink, "pgbouncer_stats_queries_pooled_total", stats) == 3);
  CHECK(value(sink, "pgbouncer_stats_sql_transactions_pooled_total", stats) == 3);
  CHECK(value(sink, "pgbouncer_stats_received_bytes_total", stats) == 48);
  CHECK(value(sink, "pgbouncer_stats_sent_bytes_total", stats) == 84);
  CHECK(value(sink, "pgbouncer_stats_client_wait_seconds_total", stats) ==
        doctest::Approx(0.165187));
  CHECK(value(sink, "pgbouncer_stats_avg_wait_seconds", stats) == doctest::Approx(0.021336));
  CHECK(value(sink, "pgbouncer_stats_avg_received_bytes_per_second", stats) == 6);
  CHECK(sink.find("pgbouncer_stats_queries_pooled_total", stats)->counter.value == 3);

  // A database without its own pool_mode carries the global one (SHOW CONFIG).
  const Labels database{{"name", "postgres"}, {"host", "127.0.0.1"},
                        {"port", "60471"},    {"database", "postgres"},
                        {"force_user", ""},   {"pool_mode", "transaction"}};
  CHECK(value(sink, "pgbouncer_databases_pool_size", database) == 2);
  CHECK(value(sink, "pgbouncer_databases_current_connections", database) == 2);
  CHECK(value(sink, "pgbouncer_databases_max_connections", database) == 0);
  CHECK(value(sink, "pgbouncer_databases_paused", database) == 0);
  // The admin database has its own mode and no host (NULL -> "").
  CHECK(value(sink, "pgbouncer_databases_pool_size",
              {{"name", "pgbouncer"},
               {"host", ""},
               {"port", "60999"},
               {"database", "pgbouncer"},
               {"force_user", "pgbouncer"},
               {"pool_mode", "statement"}}) == 2);

  CHECK(value(sink, "pgbouncer_used_clients") == 4);
  CHECK(value(sink, "pgbouncer_free_servers") == 48);
  CHECK(value(sink, "pgbouncer_pools") == 2);
  CHECK(sink.find("pgbouncer_dns_pending") ==
        nullptr);  // a list pgbouncer_exporter has no name for
  CHECK(value(sink, "pgbouncer_config_max_client_connections") == 100);
  CHECK(value(sink, "pgbouncer_config_max_user_connections") == 0);
}

TEST_CASE("pgbouncer: a column a newer version adds is ignored") {
  SampleSink sink;
  const auto result = collect(round_with("show_pools_extra_column.txt"), sink);
  INFO(result.error);
  REQUIRE(result.ok);
  CHECK(value(sink, "pgbouncer_pools_client_waiting_connections", kPool) == 1);
  CHECK(value(sink, "pgbouncer_pools_server_active_connections", kPool) == 2);
  for (const auto& family : sink.families()) CHECK(family.name.find("future") == std::string::npos);
}

TEST_CASE("pgbouncer: a missing required column fails the round with a reason") {
  SampleSink sink;
  const auto result = collect(round_with("show_pools_missing_column.txt"), sink);
  CHECK_FALSE(result.ok);
  CHECK(result.reason == DownReason::protocol);
  CHECK(result.error == "SHOW POOLS has no column sv_login");
}

TEST_CASE("pgbouncer: NULL is no sample, text that is not a number fails the round") {
  auto results = round_with();
  auto& pools = results[1];
  const auto cl_waiting = static_cast<std::size_t>(pools.column("cl_waiting"));
  pools.rows[1][cl_waiting] = std::nullopt;
  SampleSink with_null;
  REQUIRE(collect(results, with_null).ok);
  CHECK(with_null.find("pgbouncer_pools_client_waiting_connections", kPool) == nullptr);
  CHECK(with_null.find("pgbouncer_pools_client_active_connections", kPool) != nullptr);

  pools.rows[1][cl_waiting] = std::string("many\x01\x02");
  SampleSink bad;
  const auto result = collect(results, bad);
  CHECK_FALSE(result.ok);
  CHECK(result.reason == DownReason::protocol);
  CHECK(result.error == "SHOW POOLS column cl_waiting is not a number: \"many??\"");
}

TEST_CASE("pgbouncer: a refused statement, a missing result, an empty SHOW VERSION") {
  auto results = round_with();
  results[5] = QueryResult::failure("08P01", "not allowed");
  SampleSink sink;
  auto result = collect(results, sink);
  CHECK_FALSE(result.ok);
  CHECK(result.reason == DownReason::auth_failed);
  CHECK(result.error == "SHOW CONFIG: not allowed");

  results = round_with();
  results.pop_back();
  result = collect(results, sink);
  CHECK_FALSE(result.ok);
  CHECK(result.reason == DownReason::protocol);

  results = round_with();
  results[0] = QueryResult::from_rows({"version"}, {});
  result = collect(results, sink);
  CHECK_FALSE(result.ok);
  CHECK(result.error == "SHOW VERSION has no version");

  // Another server's reply in SHOW STATS' place.
  results = round_with();
  results[2] = QueryResult::from_rows({"?column?"}, {{std::string("1")}});
  result = collect(results, sink);
  CHECK_FALSE(result.ok);
  CHECK(result.error == "SHOW STATS has no column database");
}

TEST_CASE("pgbouncer: an empty pgbouncer (no pools yet) is fine") {
  auto results = round_with();
  for (std::size_t i = 1; i < results.size(); ++i) results[i].rows.clear();
  SampleSink sink;
  const auto result = collect(results, sink);
  REQUIRE(result.ok);
  CHECK(sink.series_count("pgbouncer_pools_client_active_connections") == 0);
  CHECK(value(sink, "pgbouncer_version_info", {{"version", "1.18.0"}}) == 1);
}

TEST_CASE("pgbouncer: failures as pgbouncer words them") {
  CHECK(classify_failure(FailureReason::other, "FATAL:  08P01: SASL authentication failed") ==
        DownReason::auth_failed);
  CHECK(classify_failure(FailureReason::other,
                         "FATAL:  08P01: password authentication failed for user \"x\"") ==
        DownReason::auth_failed);
  CHECK(classify_failure(FailureReason::other, "FATAL:  08P01: not allowed") ==
        DownReason::auth_failed);
  CHECK(classify_failure(FailureReason::other,
                         "FATAL:  08P01: no more connections allowed (max_client_conn)") ==
        DownReason::too_many_clients);
  CHECK(classify_failure(FailureReason::refused, "Connection refused") == DownReason::refused);
  CHECK(classify_failure(FailureReason::timeout, "") == DownReason::timeout);
  CHECK(classify_failure(FailureReason::dns, "") == DownReason::dns);
  CHECK(classify_failure(FailureReason::ssl, "server does not support SSL, but SSL was required") ==
        DownReason::tls);
  CHECK(classify_failure(FailureReason::other, "FATAL:  08P01: no such database: x") ==
        DownReason::other);
}

TEST_CASE("pgbouncer: liveness series from the first scrape") {
  Liveness live;
  SampleSink sink;
  live.emit(sink);
  CHECK(value(sink, "pgbouncer_up") == 0);
  CHECK(value(sink, "pgbouncer_connection_failure", {{"reason", "connecting"}}) == 1);
  CHECK(value(sink, "pgbouncer_connection_failure", {{"reason", "none"}}) == 0);
  CHECK(sink.series_count("pgbouncer_connection_failure") == down_reason_names().size());

  live.reason = DownReason::auth_failed;
  live.failures[DownReason::auth_failed] = 3;
  SampleSink down;
  live.emit(down);
  CHECK(value(down, "pgbouncer_connection_failure", {{"reason", "auth_failed"}}) == 1);
  CHECK(value(down, "pgbouncer_connection_failures_total", {{"reason", "auth_failed"}}) == 3);
}
