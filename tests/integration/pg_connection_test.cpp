// The monitoring connection's batching on a real PostgreSQL 15: rounds asked
// for in one turn of the loop leave as one pipelined batch, a statement asked
// for twice is sent once, the shortest deadline goes first, and a deadline
// fails only what it has to; statements are prepared once per session.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "collect/pg_connection.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::PgConnection;
using pgvigil::RoundOutcome;
using pgvigil::test::PgCluster;

namespace {

pgvigil::ConnParams params_of(const PgCluster& cluster) {
  return {{"host", "127.0.0.1"},  {"port", std::to_string(cluster.primary_port())},
          {"user", "postgres"},   {"password", cluster.password()},
          {"dbname", "postgres"}, {"application_name", "pgvigil-batch-test"}};
}

// Runs the loop until `done` holds or 20 s pass (bounded in time and count).
template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int turns = 0; turns < 1'000'000 && !done(); ++turns) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(10ms);
    if (io.stopped()) io.restart();
  }
  return done();
}

void connect(boost::asio::io_context& io, PgConnection& connection, const PgCluster& cluster) {
  std::optional<bool> ok;
  connection.connect(params_of(cluster), 5000ms,
                     [&](const pgvigil::ConnectOutcome& outcome) { ok = outcome.ok; });
  REQUIRE(run_until(io, [&] { return ok.has_value(); }));
  REQUIRE(*ok);
}

std::shared_ptr<PgConnection> connected(boost::asio::io_context& io, const PgCluster& cluster) {
  auto connection = PgConnection::create(io);
  connect(io, *connection, cluster);
  return connection;
}

}  // namespace

TEST_CASE("batch: rounds of one loop turn go out together, a shared statement once") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);
  const auto batches_before = connection->batches_sent();
  const auto statements_before = connection->statements_sent();

  std::optional<RoundOutcome> first;
  std::optional<RoundOutcome> second;
  std::optional<RoundOutcome> third;
  const std::string shared = "SELECT count(*) AS n FROM pg_stat_activity";
  connection->run({{"a", shared}, {"b", "SELECT 1 AS one"}}, 5000ms,
                  [&](RoundOutcome out) { first = std::move(out); });
  connection->run({{"c", shared}}, 5000ms, [&](RoundOutcome out) { second = std::move(out); });
  connection->run({{"d", "SELECT nosuchcolumn"}, {"e", "SELECT 2 AS two"}}, 5000ms,
                  [&](RoundOutcome out) { third = std::move(out); });
  REQUIRE(run_until(io, [&] { return first && second && third; }));

  CHECK(connection->batches_sent() - batches_before == 1);
  CHECK(connection->statements_sent() - statements_before == 4);  // `shared` once
  REQUIRE(first->ok);
  REQUIRE(first->results.size() == 2);
  REQUIRE(second->results.size() == 1);
  CHECK(first->results[0].ok);
  CHECK(second->results[0].ok);
  CHECK(first->results[0].number(0, "n") == second->results[0].number(0, "n"));
  CHECK(first->results[1].number(0, "one") == 1.0);
  // A failing statement fails only itself, not its neighbours in the batch.
  REQUIRE(third->results.size() == 2);
  CHECK_FALSE(third->results[0].ok);
  CHECK(third->results[0].sqlstate == "42703");
  CHECK(third->results[1].number(0, "two") == 2.0);

  // Rounds asked for in later turns are later batches.
  std::optional<RoundOutcome> later;
  connection->run({{"f", "SELECT 3 AS three"}}, 5000ms,
                  [&](RoundOutcome out) { later = std::move(out); });
  REQUIRE(run_until(io, [&] { return later.has_value(); }));
  CHECK(later->ok);
  CHECK(connection->batches_sent() - batches_before == 2);
}

TEST_CASE("batch: the shortest deadline answers first and a slow neighbour's deadline ends it") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);

  std::optional<RoundOutcome> slow;
  std::optional<RoundOutcome> quick;
  std::vector<std::string> order;
  // Asked for first, but with the longer deadline: it goes second.
  connection->run({{"slow", "SELECT pg_sleep(3)"}}, 1500ms, [&](RoundOutcome out) {
    order.push_back("slow");
    slow = std::move(out);
  });
  connection->run({{"quick", ""}}, 1000ms, [&](RoundOutcome out) {
    order.push_back("quick");
    quick = std::move(out);
  });
  REQUIRE(run_until(io, [&] { return slow && quick; }));
  REQUIRE(order.size() == 2);
  CHECK(order[0] == "quick");
  CHECK(quick->ok);
  CHECK(quick->elapsed < 1000ms);
  // The sleeper passed its own deadline: it alone is timed out, and the
  // connection is dropped (the server ends the statement by itself).
  CHECK_FALSE(slow->ok);
  CHECK(slow->timed_out);
  CHECK_FALSE(connection->connected());
}

TEST_CASE("batch: a round's deadline starts when the round before it is answered") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);
  // Three rounds of 0.6 s each in one batch: 1.8 s in all, each within its
  // own 1 s deadline once the server gets to it, as if sent one by one.
  std::vector<RoundOutcome> outcomes;
  for (int i = 0; i < 3; ++i)
    connection->run({{"nap", "SELECT pg_sleep(0.6) AS nap_" + std::to_string(i)}}, 1000ms,
                    [&](RoundOutcome out) { outcomes.push_back(std::move(out)); });
  REQUIRE(run_until(io, [&] { return outcomes.size() == 3; }));
  for (const auto& outcome : outcomes) {
    CHECK(outcome.ok);
    CHECK_FALSE(outcome.timed_out);
  }
  CHECK(outcomes.back().elapsed >= 1800ms);
  CHECK(connection->connected());
}

namespace {

std::optional<RoundOutcome> run_one(boost::asio::io_context& io, PgConnection& connection,
                                    std::vector<pgvigil::Query> queries) {
  std::optional<RoundOutcome> out;
  connection.run(std::move(queries), 5000ms, [&](RoundOutcome o) { out = std::move(o); });
  if (!run_until(io, [&] { return out.has_value(); })) return std::nullopt;
  return out;
}

}  // namespace

TEST_CASE("prepared: a statement is planned once per session and run by name after that") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);
  const std::string sql = "SELECT count(*) AS n FROM pg_stat_activity";
  for (int round = 0; round < 3; ++round) {
    auto out = run_one(io, *connection, {{"activity", sql}});
    REQUIRE(out);
    REQUIRE(out->ok);
    CHECK(out->results.at(0).number(0, "n").value_or(0) >= 1);
  }
  CHECK(connection->prepared_statements() == 1);
  // The session's own view of its prepared statements: this one, under its
  // name, executed three times with one plan (a statement without
  // parameters takes the generic plan at once).
  auto seen = run_one(io, *connection,
                      {{"prepared",
                        "SELECT name, statement, generic_plans + custom_plans AS runs "
                        "FROM pg_prepared_statements ORDER BY name"}});
  REQUIRE(seen);
  REQUIRE(seen->results.at(0).ok);
  const auto& rows = seen->results[0];
  REQUIRE(rows.rows.size() == 2);  // this statement and the query of pg_prepared_statements
  CHECK(rows.text(0, "statement") == sql);
  CHECK(rows.text(0, "name").value_or("").starts_with("pgvigil_"));
  CHECK(rows.number(0, "runs") == 3.0);
}

TEST_CASE(
    "prepared: a statement that does not parse fails alone, every round, with its own error") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);
  for (int round = 0; round < 2; ++round) {
    auto out =
        run_one(io, *connection, {{"bad", "SELECT nosuchcolumn"}, {"good", "SELECT 2 AS two"}});
    REQUIRE(out);
    REQUIRE(out->results.size() == 2);
    CAPTURE(round);
    CHECK_FALSE(out->results[0].ok);
    CHECK(out->results[0].sqlstate == "42703");  // not 26000 (no such prepared statement)
    CHECK(out->results[1].number(0, "two") == 2.0);
  }
  CHECK(connection->prepared_statements() == 1);  // only the good one
}

TEST_CASE("prepared: a new session prepares again") {
  PgCluster cluster;
  boost::asio::io_context io;
  auto connection = connected(io, cluster);
  auto first = run_one(io, *connection, {{"one", "SELECT 1 AS one"}});
  REQUIRE(first);
  CHECK(first->ok);
  connection->close("test");
  connect(io, *connection, cluster);
  CHECK(connection->prepared_statements() == 0);
  auto again = run_one(io, *connection, {{"one", "SELECT 1 AS one"}});
  REQUIRE(again);
  REQUIRE(again->ok);
  CHECK(again->results.at(0).ok);  // not "prepared statement pgvigil_1 does not exist"
  CHECK(again->results.at(0).number(0, "one") == 1.0);
}
