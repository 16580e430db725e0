#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "probes/replication.hpp"

namespace repl_fixture {

// Recorded result rows (tests/data/repl/<scenario>/<query>.tsv, written by
// tests/data/repl/capture.sh from a real PostgreSQL 15 primary and replica):
// a header line, tab-separated cells, \N for NULL. Shared with the slots and
// archiver tests, which declare these two functions.
pgvigil::QueryResult load(const std::string& scenario, const std::string& query) {
  const std::string path =
      std::string(PGVIGIL_TEST_DATA) + "/repl/" + scenario + "/" + query + ".tsv";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path);
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::string::size_type start = 0;
    for (;;) {
      auto tab = line.find('\t', start);
      cells.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    return cells;
  };
  std::string line;
  std::getline(in, line);
  std::vector<std::string> columns = split(line);
  std::vector<std::vector<std::optional<std::string>>> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto cells = split(line);
    REQUIRE_MESSAGE(cells.size() == columns.size(), "ragged row in " << path);
    auto& row = rows.emplace_back();
    for (auto& cell : cells)
      row.push_back(cell == "\\N" ? std::nullopt : std::optional<std::string>(std::move(cell)));
  }
  return pgvigil::QueryResult::from_rows(std::move(columns), std::move(rows));
}

// The statement the fixtures were recorded with (tests/data/repl/sql/<set>/).
std::string recorded_sql(const std::string& set, const std::string& query) {
  const std::string path =
      std::string(PGVIGIL_TEST_DATA) + "/repl/sql/" + set + "/" + query + ".sql";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing recorded SQL " << path);
  std::stringstream text;
  text << in.rdbuf();
  std::string sql = text.str();
  if (sql.size() >= 2 && sql.compare(sql.size() - 2, 2, ";\n") == 0) sql.resize(sql.size() - 2);
  return sql;
}

}  // namespace repl_fixture

namespace {

using pgvigil::Labels;
using pgvigil::QueryResult;
using pgvigil::SampleSink;

struct Setup {
  pgvigil::ServerInfo server;
  pgvigil::config::TargetConfig target;
  std::unique_ptr<pgvigil::SqlProbe> probe = pgvigil::make_replication_probe();

  Setup(bool in_recovery, int version_num = 150010) {
    server.version_num = version_num;
    server.in_recovery = in_recovery;
  }
  pgvigil::ProbeContext ctx() const {
    return {server, target, std::chrono::system_clock::now(), "postgres"};
  }
  SampleSink run(const std::vector<QueryResult>& results) {
    SampleSink sink;
    probe->collect(ctx(), results, sink);
    return sink;
  }
};

double value(const SampleSink& sink, std::string_view name, const Labels& labels = {}) {
  const auto* metric = sink.find(name, labels);
  REQUIRE_MESSAGE(metric != nullptr, "no sample " << name);
  return metric->gauge.value;
}

const Labels kReplica1{{"application_name", "replica1"},
                       {"client_addr", "127.0.0.1"},
                       {"slot_name", "replica1"},
                       {"state", "streaming"}};

Labels with(Labels labels, std::string key, std::string val) {
  labels.emplace_back(std::move(key), std::move(val));
  return labels;
}

// Sets one cell of every row of a recorded result.
void set_cell(QueryResult& result, std::string_view column, std::optional<std::string> cell) {
  const int index = result.column(column);
  REQUIRE(index >= 0);
  for (auto& row : result.rows) row[static_cast<std::size_t>(index)] = cell;
}

const std::vector<std::string_view> kPrimaryOnly{"pg_stat_replication_pg_current_wal_lsn_bytes",
                                                 "pg_stat_replication_replay_lag_bytes",
                                                 "pg_stat_replication_pg_wal_lsn_diff",
                                                 "pg_stat_replication_replicas",
                                                 "pg_stat_replication_sync_state",
                                                 "pg_replication_expected_replicas",
                                                 "pg_replication_missing_replicas"};
const std::vector<std::string_view> kStandbyOnly{
    "pg_replication_lag_seconds", "pg_replication_last_replay_seconds",
    "pg_replication_replay_pending_bytes", "pg_replication_replay_paused",
    "pg_stat_wal_receiver_status"};

}  // namespace

TEST_CASE("replication: the statements are the ones the fixtures were recorded with") {
  for (const auto& [set, recovery, version] :
       {std::tuple{"primary_pg15", false, 150010}, std::tuple{"standby_pg15", true, 150010},
        std::tuple{"primary_pg12", false, 120000},
        std::tuple{"standby_pg17_archive_always", true, 170000}}) {
    Setup setup(recovery, version);
    for (const auto& query : setup.probe->queries(setup.ctx())) {
      if (query.name.rfind("replication_", 0) != 0) continue;
      CAPTURE(set);
      CAPTURE(query.name);
      CHECK(query.sql == repl_fixture::recorded_sql(set, query.name));
    }
  }
}

TEST_CASE("replication: the role decides which statements are sent") {
  Setup primary(false);
  auto queries = primary.probe->queries(primary.ctx());
  REQUIRE(queries.size() == 1);
  CHECK(queries[0].name == "replication_standbys");

  Setup standby(true);
  queries = standby.probe->queries(standby.ctx());
  REQUIRE(queries.size() == 2);
  CHECK(queries[0].name == "replication_standby_replay");
  CHECK(queries[1].name == "replication_wal_receiver");
  CHECK(primary.probe->default_interval() == std::chrono::seconds(5));
}

TEST_CASE("replication: WAL receiver columns are version gated (12 vs 13+)") {
  Setup pg12(true, 120022);
  Setup pg13(true, 130000);
  const auto sql12 = pg12.probe->queries(pg12.ctx())[1].sql;
  const auto sql13 = pg13.probe->queries(pg13.ctx())[1].sql;
  CHECK(sql12.find("received_lsn") != std::string::npos);
  CHECK(sql12.find("flushed_lsn,") == std::string::npos);
  CHECK(sql13.find("flushed_lsn") != std::string::npos);
  CHECK(sql13.find("received_lsn") == std::string::npos);
  CHECK(sql13.find("conninfo") == std::string::npos);  // may hold a password
}

TEST_CASE("replication: idle primary with a caught-up standby reports zero lag") {
  Setup setup(false);
  auto sink = setup.run({repl_fixture::load("primary_idle", "replication_standbys")});
  CHECK(value(sink, "pg_stat_replication_pg_current_wal_lsn_bytes", kReplica1) == 67108864);
  for (auto name : {"pg_stat_replication_sent_lag_bytes", "pg_stat_replication_write_lag_bytes",
                    "pg_stat_replication_flush_lag_bytes", "pg_stat_replication_replay_lag_bytes",
                    "pg_stat_replication_pg_wal_lsn_diff"})
    CHECK(value(sink, name, kReplica1) == 0);
  // PostgreSQL reported NULL lag intervals (idle); the standby is at the
  // current LSN, so these are a real 0.
  for (auto name :
       {"pg_stat_replication_write_lag_seconds", "pg_stat_replication_flush_lag_seconds",
        "pg_stat_replication_replay_lag_seconds"})
    CHECK(value(sink, name, kReplica1) == 0);
  CHECK(value(sink, "pg_stat_replication_reply_age_seconds", kReplica1) ==
        doctest::Approx(2.584041));

  CHECK(sink.series_count("pg_stat_replication_sync_state") == 4);
  CHECK(value(sink, "pg_stat_replication_sync_state", with(kReplica1, "sync_state", "async")) == 1);
  CHECK(value(sink, "pg_stat_replication_sync_state", with(kReplica1, "sync_state", "sync")) == 0);

  CHECK(sink.series_count("pg_stat_replication_replicas") == 5);
  CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "streaming"}}) == 1);
  CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "catchup"}}) == 0);
  CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "backup"}}) == 0);

  CHECK(sink.find("pg_replication_expected_replicas") == nullptr);
  CHECK(sink.find("pg_replication_missing_replicas") == nullptr);
  for (auto name : kStandbyOnly) CHECK_MESSAGE(sink.series_count(name) == 0, name);
  for (const auto& family : sink.families())
    for (const auto& metric : family.metric)
      for (const auto& label : metric.label) CHECK(label.name != "target");

  const auto& evidence = sink.evidence();
  REQUIRE(evidence.count("replication.standbys") == 1);
  CHECK(evidence.at("replication.standbys").find("replica1 127.0.0.1 replica1 streaming async") !=
        std::string::npos);
}

TEST_CASE("replication: paused replay shows as replay lag on the primary") {
  Setup setup(false);
  auto rows = repl_fixture::load("primary_replay_paused", "replication_standbys");
  auto sink = setup.run({rows});
  CHECK(value(sink, "pg_stat_replication_sent_lag_bytes", kReplica1) == 0);
  CHECK(value(sink, "pg_stat_replication_replay_lag_bytes", kReplica1) == 5295544);
  CHECK(value(sink, "pg_stat_replication_pg_wal_lsn_diff", kReplica1) == 5295544);
  CHECK(value(sink, "pg_stat_replication_replay_lag_seconds", kReplica1) ==
        doctest::Approx(0.016033));
  CHECK(value(sink, "pg_stat_replication_write_lag_seconds", kReplica1) ==
        doctest::Approx(0.009985));

  SUBCASE("a NULL lag interval while behind gives no sample, never 0") {
    set_cell(rows, "replay_lag_seconds", std::nullopt);
    set_cell(rows, "write_lag_seconds", std::nullopt);
    auto nulls = setup.run({rows});
    CHECK(nulls.find("pg_stat_replication_replay_lag_seconds", kReplica1) == nullptr);
    // write_lsn is at the current LSN, so its NULL interval is a real 0.
    CHECK(value(nulls, "pg_stat_replication_write_lag_seconds", kReplica1) == 0);
    CHECK(value(nulls, "pg_stat_replication_replay_lag_bytes", kReplica1) == 5295544);
  }
}

TEST_CASE("replication: replay delay grows on the primary while replay stands still") {
  Setup setup(false);
  auto rows = repl_fixture::load("primary_replay_paused", "replication_standbys");
  const auto t0 = std::chrono::system_clock::time_point{} + std::chrono::hours(500000);
  auto round = [&](const QueryResult& result, std::chrono::seconds after) {
    SampleSink sink;
    const pgvigil::ProbeContext ctx{setup.server, setup.target, t0 + after, "postgres"};
    setup.probe->collect(ctx, std::vector<QueryResult>{result}, sink);
    return value(sink, "pg_stat_replication_replay_delay_seconds", kReplica1);
  };
  // First sight: nothing older is known, so PostgreSQL's own replay_lag stands.
  CHECK(round(rows, std::chrono::seconds(0)) == doctest::Approx(0.016033));
  // The same positions 30 s later: replay_lag would still say 0.016 s.
  CHECK(round(rows, std::chrono::seconds(30)) == doctest::Approx(30));
  // More WAL written, replay still stopped: measured from when the primary
  // first passed the replay position, not from the newest write.
  const double current = *rows.number(0, "current_wal_lsn_bytes");
  const double behind = *rows.number(0, "replay_lag_bytes");
  set_cell(rows, "current_wal_lsn_bytes", std::to_string(current + 8192));
  set_cell(rows, "replay_lag_bytes", std::to_string(behind + 8192));
  CHECK(round(rows, std::chrono::seconds(45)) == doctest::Approx(45));
  // Replay resumed and caught up: 0 at once, whatever replay_lag last said.
  set_cell(rows, "replay_lag_bytes", "0");
  CHECK(round(rows, std::chrono::seconds(50)) == 0);
  // Behind again by the newest write only: measured from that write's round.
  set_cell(rows, "current_wal_lsn_bytes", std::to_string(current + 16384));
  set_cell(rows, "replay_lag_bytes", "8192");
  set_cell(rows, "replay_lag_seconds", std::nullopt);
  CHECK(round(rows, std::chrono::seconds(55)) == 0);
  CHECK(round(rows, std::chrono::seconds(62)) == doctest::Approx(7));

  SUBCASE("an idle primary with a caught-up standby stays at 0") {
    auto idle = repl_fixture::load("primary_idle", "replication_standbys");
    CHECK(round(idle, std::chrono::seconds(100)) == 0);
    CHECK(round(idle, std::chrono::seconds(700)) == 0);
  }
}

TEST_CASE("replication: missing replicas against the configured expectation") {
  Setup setup(false);
  SUBCASE("no standby connected") {
    setup.target.expected_replicas = 2;
    auto sink = setup.run({repl_fixture::load("primary_no_standby", "replication_standbys")});
    CHECK(value(sink, "pg_replication_expected_replicas") == 2);
    CHECK(value(sink, "pg_replication_missing_replicas") == 2);
    CHECK(sink.series_count("pg_stat_replication_replicas") == 5);
    CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "streaming"}}) == 0);
    CHECK(sink.series_count("pg_stat_replication_replay_lag_bytes") == 0);
  }
  SUBCASE("one streaming standby, one expected") {
    setup.target.expected_replicas = 1;
    auto sink = setup.run({repl_fixture::load("primary_idle", "replication_standbys")});
    CHECK(value(sink, "pg_replication_missing_replicas") == 0);
  }
  SUBCASE("more standbys than expected is not negative") {
    setup.target.expected_replicas = 0;
    auto sink = setup.run({repl_fixture::load("primary_idle", "replication_standbys")});
    CHECK(value(sink, "pg_replication_missing_replicas") == 0);
  }
  SUBCASE("a standby still catching up does not count as streaming") {
    setup.target.expected_replicas = 1;
    auto rows = repl_fixture::load("primary_idle", "replication_standbys");
    set_cell(rows, "state", "catchup");
    auto sink = setup.run({rows});
    CHECK(value(sink, "pg_replication_missing_replicas") == 1);
    CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "catchup"}}) == 1);
  }
  SUBCASE("the statement failed: the expectation stays, no verdict") {
    setup.target.expected_replicas = 1;
    auto sink = setup.run({QueryResult::failure("55000", "recovery is in progress")});
    CHECK(value(sink, "pg_replication_expected_replicas") == 1);
    CHECK(sink.find("pg_replication_missing_replicas") == nullptr);
    CHECK(sink.series_count("pg_stat_replication_replicas") == 0);
  }
}

TEST_CASE("replication: logical walsenders are not replicas, duplicate label sets are dropped") {
  Setup setup(false);
  setup.target.expected_replicas = 1;
  auto rows = repl_fixture::load("primary_idle", "replication_standbys");
  auto logical = rows.rows[0];
  logical[static_cast<std::size_t>(rows.column("application_name"))] = "sub1";
  logical[static_cast<std::size_t>(rows.column("slot_name"))] = "sub1";
  logical[static_cast<std::size_t>(rows.column("slot_type"))] = "logical";
  rows.rows.push_back(logical);
  rows.rows.push_back(rows.rows[0]);  // same labels as replica1
  auto sink = setup.run({rows});
  CHECK(value(sink, "pg_stat_replication_replicas", {{"state", "streaming"}}) == 2);
  CHECK(value(sink, "pg_replication_missing_replicas") == 0);
  CHECK(sink.series_count("pg_stat_replication_replay_lag_bytes") == 2);
}

TEST_CASE("replication: idle standby reports zero lag, not time since the last commit") {
  Setup setup(true);
  setup.target.expected_replicas = 1;
  auto sink = setup.run({repl_fixture::load("standby_idle", "replication_standby_replay"),
                         repl_fixture::load("standby_idle", "replication_wal_receiver")});
  CHECK(value(sink, "pg_replication_lag_seconds") == 0);
  CHECK(value(sink, "pg_replication_last_replay_seconds") == doctest::Approx(13.221669));
  CHECK(value(sink, "pg_replication_replay_pending_bytes") == 0);
  CHECK(value(sink, "pg_replication_replay_paused") == 0);
  CHECK(sink.series_count("pg_stat_wal_receiver_status") == 7);
  CHECK(value(sink, "pg_stat_wal_receiver_status", {{"status", "streaming"}}) == 1);
  CHECK(value(sink, "pg_stat_wal_receiver_status", {{"status", "disconnected"}}) == 0);
  CHECK(value(sink, "pg_stat_wal_receiver_last_msg_receipt_age_seconds") ==
        doctest::Approx(13.298388));
  CHECK(value(sink, "pg_stat_wal_receiver_flushed_lsn_bytes") == 67108864);
  CHECK(value(sink, "pg_stat_wal_receiver_written_lsn_bytes") == 67108864);
  CHECK(value(sink, "pg_stat_wal_receiver_received_timeline") == 1);
  for (auto name : kPrimaryOnly) CHECK_MESSAGE(sink.series_count(name) == 0, name);
  CHECK(sink.find("pg_replication_is_replica") == nullptr);  // the liveness probe's
  REQUIRE(sink.evidence().count("replication.receiver") == 1);
  CHECK(sink.evidence().at("replication.receiver").find("sender 127.0.0.1:55532") !=
        std::string::npos);
}

TEST_CASE("replication: paused replay on a standby with WAL waiting") {
  Setup setup(true);
  auto sink = setup.run({repl_fixture::load("standby_replay_paused", "replication_standby_replay"),
                         repl_fixture::load("standby_replay_paused", "replication_wal_receiver")});
  CHECK(value(sink, "pg_replication_lag_seconds") == doctest::Approx(21.695790));
  CHECK(value(sink, "pg_replication_replay_pending_bytes") == 72404504 - 67108960);
  CHECK(value(sink, "pg_replication_replay_paused") == 1);
}

TEST_CASE("replication: standby whose primary is down") {
  Setup setup(true);
  auto sink = setup.run({repl_fixture::load("standby_primary_down", "replication_standby_replay"),
                         repl_fixture::load("standby_primary_down", "replication_wal_receiver")});
  CHECK(value(sink, "pg_stat_wal_receiver_status", {{"status", "disconnected"}}) == 1);
  CHECK(value(sink, "pg_stat_wal_receiver_status", {{"status", "streaming"}}) == 0);
  CHECK(sink.find("pg_stat_wal_receiver_last_msg_receipt_age_seconds") == nullptr);
  // Nothing new arrives, everything received is replayed: no growing lag.
  CHECK(value(sink, "pg_replication_lag_seconds") == 0);
}

TEST_CASE("replication: standby NULLs and failures skip only what they feed") {
  Setup setup(true);
  auto replay = repl_fixture::load("standby_replay_paused", "replication_standby_replay");
  auto receiver = repl_fixture::load("standby_idle", "replication_wal_receiver");

  SUBCASE("no replayed transaction yet while behind: no lag sample") {
    set_cell(replay, "last_replay_seconds", std::nullopt);
    auto sink = setup.run({replay, receiver});
    CHECK(sink.find("pg_replication_lag_seconds") == nullptr);
    CHECK(sink.find("pg_replication_last_replay_seconds") == nullptr);
    CHECK(value(sink, "pg_replication_replay_pending_bytes") > 0);
  }
  SUBCASE("archive-only recovery (nothing received by streaming)") {
    set_cell(replay, "receive_lsn_bytes", std::nullopt);
    auto sink = setup.run({replay, receiver});
    CHECK(value(sink, "pg_replication_lag_seconds") == doctest::Approx(21.695790));
    CHECK(sink.find("pg_replication_replay_pending_bytes") == nullptr);
  }
  SUBCASE("PostgreSQL 12 has no written_lsn") {
    set_cell(receiver, "written_lsn_bytes", std::nullopt);
    auto sink = setup.run({replay, receiver});
    CHECK(sink.find("pg_stat_wal_receiver_written_lsn_bytes") == nullptr);
    CHECK(value(sink, "pg_stat_wal_receiver_flushed_lsn_bytes") == 67108864);
  }
  SUBCASE("replay statement failed") {
    auto sink = setup.run({QueryResult::failure("57014", "canceling statement"), receiver});
    CHECK(sink.find("pg_replication_lag_seconds") == nullptr);
    CHECK(value(sink, "pg_stat_wal_receiver_status", {{"status", "streaming"}}) == 1);
  }
  SUBCASE("receiver statement failed") {
    auto sink = setup.run({replay, QueryResult::failure("42501", "permission denied")});
    CHECK(sink.series_count("pg_stat_wal_receiver_status") == 0);
    CHECK(value(sink, "pg_replication_replay_paused") == 1);
  }
  SUBCASE("fewer results than statements, odd cells") {
    set_cell(replay, "replay_paused", "maybe");
    set_cell(replay, "receive_lsn_bytes", "0/3000000");
    auto sink = setup.run({replay});
    CHECK(sink.find("pg_replication_replay_paused") == nullptr);
    CHECK(sink.find("pg_replication_replay_pending_bytes") == nullptr);
    CHECK(sink.series_count("pg_stat_wal_receiver_status") == 0);
  }
}

TEST_CASE("replication: rows of the other role are ignored") {
  // A primary's probe handed standby-side rows (and vice versa) emits nothing
  // of the other side: the role comes from ServerInfo, not from the rows.
  Setup primary(false);
  auto sink = primary.run({repl_fixture::load("standby_idle", "replication_standby_replay")});
  for (auto name : kStandbyOnly) CHECK_MESSAGE(sink.series_count(name) == 0, name);

  Setup standby(true);
  sink = standby.run({repl_fixture::load("primary_idle", "replication_standbys")});
  for (auto name : kPrimaryOnly) CHECK_MESSAGE(sink.series_count(name) == 0, name);
}
