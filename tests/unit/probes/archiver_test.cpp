#include <doctest/doctest.h>

#include <string>

#include "probes/archiver.hpp"

namespace repl_fixture {
// Defined in replication_test.cpp.
pgvigil::QueryResult load(const std::string& scenario, const std::string& query);
std::string recorded_sql(const std::string& set, const std::string& query);
}  // namespace repl_fixture

namespace {

using pgvigil::QueryResult;
using pgvigil::SampleSink;

struct Setup {
  pgvigil::ServerInfo server;
  pgvigil::config::TargetConfig target;
  std::unique_ptr<pgvigil::SqlProbe> probe = pgvigil::make_archiver_probe();

  Setup(bool in_recovery, std::string archive_mode) {
    server.version_num = 150010;
    server.in_recovery = in_recovery;
    server.settings["archive_mode"] = std::move(archive_mode);
  }
  pgvigil::ProbeContext ctx() const {
    return {server, target, std::chrono::system_clock::now(), "postgres"};
  }
  std::vector<std::string> query_names() const {
    std::vector<std::string> names;
    for (const auto& query : probe->queries(ctx())) names.push_back(query.name);
    return names;
  }
  // Loads every statement this round sends from one recorded scenario.
  std::vector<QueryResult> recorded(const std::string& scenario) const {
    std::vector<QueryResult> results;
    for (const auto& name : query_names()) results.push_back(repl_fixture::load(scenario, name));
    return results;
  }
  SampleSink run(const std::vector<QueryResult>& results) {
    SampleSink sink;
    probe->collect(ctx(), results, sink);
    return sink;
  }
};

double value(const SampleSink& sink, std::string_view name) {
  const auto* metric = sink.find(name);
  REQUIRE_MESSAGE(metric != nullptr, "no sample " << name);
  const auto& families = sink.families();
  for (const auto& family : families)
    if (family.name == name) return pgvigil::sample_value(family, *metric);
  FAIL("no family " << name);
  return 0;
}

void set_cell(QueryResult& result, std::string_view column, std::optional<std::string> cell) {
  const int index = result.column(column);
  REQUIRE(index >= 0);
  for (auto& row : result.rows) row[static_cast<std::size_t>(index)] = cell;
}

const std::vector<std::string> kAllQueries{"archiver_settings", "archiver_stats",
                                           "archiver_status_dir"};

}  // namespace

TEST_CASE("archiver: the statements are the ones the fixtures were recorded with") {
  for (const auto& [set, recovery, mode] :
       {std::tuple{"primary_pg15", false, "on"}, std::tuple{"standby_pg15", true, "on"},
        std::tuple{"primary_pg12", false, "on"},
        std::tuple{"standby_pg17_archive_always", true, "always"}}) {
    Setup setup(recovery, mode);
    for (const auto& query : setup.probe->queries(setup.ctx())) {
      CAPTURE(set);
      CAPTURE(query.name);
      CHECK(query.sql == repl_fixture::recorded_sql(set, query.name));
      CHECK(query.sql.find("archive_command') AS") == std::string::npos);  // text never read
    }
  }
}

TEST_CASE("archiver: which statements run depends on archive_mode and the role") {
  CHECK(Setup(false, "on").query_names() == kAllQueries);
  CHECK(Setup(false, "always").query_names() == kAllQueries);
  CHECK(Setup(true, "always").query_names() == kAllQueries);
  CHECK(Setup(false, "").query_names() == kAllQueries);  // unknown: ask
  CHECK(Setup(false, "off").query_names() == std::vector<std::string>{"archiver_settings"});
  CHECK(Setup(true, "on").query_names() == std::vector<std::string>{"archiver_settings"});
  CHECK(Setup(false, "on").probe->default_interval() == std::chrono::seconds(15));
}

TEST_CASE("archiver: healthy archiving on an idle primary") {
  Setup setup(false, "on");
  auto sink = setup.run(setup.recorded("primary_idle"));
  CHECK(value(sink, "pg_wal_archiving_enabled") == 1);
  CHECK(value(sink, "pg_stat_archiver_archived_count") == 4);
  CHECK(value(sink, "pg_stat_archiver_failed_count") == 0);
  CHECK(sink.find("pg_stat_archiver_archived_count")->counter.value == 4);  // a counter
  CHECK(value(sink, "pg_stat_archiver_last_archive_age") == doctest::Approx(12.249868));
  CHECK(value(sink, "pg_stat_archiver_last_archived_timestamp_seconds") ==
        doctest::Approx(1795326306.422257));
  CHECK(sink.find("pg_stat_archiver_last_failed_timestamp_seconds") == nullptr);
  CHECK(value(sink, "pg_wal_archive_failing") == 0);
  CHECK(value(sink, "pg_wal_archive_pending_files") == 0);
  CHECK(sink.find("pg_wal_archive_oldest_pending_age_seconds") == nullptr);
  CHECK(value(sink, "pg_wal_archive_rpo_seconds") == 900);
  CHECK(value(sink, "pg_wal_archive_rpo_breached") == 0);
  CHECK(sink.evidence().count("archiver.last_failure") == 0);
}

TEST_CASE("archiver: RPO breach needs new WAL and an old last archive") {
  Setup setup(false, "on");
  setup.target.rpo = std::chrono::seconds(5);  // the last archive is 12.2 s old
  auto results = setup.recorded("primary_idle");

  // First round: nothing pending, no earlier LSN to compare with.
  CHECK(value(setup.run(results), "pg_wal_archive_rpo_breached") == 0);
  // Same LSN again: the primary is idle, an old archive is no exposure.
  CHECK(value(setup.run(results), "pg_wal_archive_rpo_breached") == 0);
  // The LSN moved since the previous round: WAL is written, not yet archived.
  set_cell(results[0], "current_lsn_bytes", "67200000");
  CHECK(value(setup.run(results), "pg_wal_archive_rpo_breached") == 1);
  // Idle again at the new position.
  CHECK(value(setup.run(results), "pg_wal_archive_rpo_breached") == 0);

  setup.target.rpo = std::chrono::minutes(15);
  set_cell(results[0], "current_lsn_bytes", "67300000");
  CHECK(value(setup.run(results), "pg_wal_archive_rpo_breached") == 0);
}

TEST_CASE("archiver: a failing archive_command") {
  Setup setup(false, "on");
  setup.target.rpo = std::chrono::seconds(5);
  auto sink = setup.run(setup.recorded("primary_archive_failing"));
  CHECK(value(sink, "pg_stat_archiver_failed_count") == 6);
  CHECK(value(sink, "pg_stat_archiver_last_failed_timestamp_seconds") ==
        doctest::Approx(1795326350.968979));
  CHECK(value(sink, "pg_wal_archive_failing") == 1);
  CHECK(value(sink, "pg_wal_archive_pending_files") == 2);
  CHECK(value(sink, "pg_wal_archive_oldest_pending_age_seconds") == doctest::Approx(6.407756));
  // Pending segments are WAL written: the 9.6 s old last archive breaks a 5 s RPO.
  CHECK(value(sink, "pg_wal_archive_rpo_breached") == 1);
  const auto& evidence = sink.evidence().at("archiver.last_failure");
  CHECK(evidence.find("00000001000000000000000B at 2026-11-22 05:45:50.968979+00") !=
        std::string::npos);
  CHECK(evidence.find("last archived 00000001000000000000000A") != std::string::npos);
  for (const auto& family : sink.families())
    for (const auto& metric : family.metric)
      for (const auto& label : metric.label)
        CHECK(label.value.find("0000000100") == std::string::npos);
}

TEST_CASE("archiver: nothing ever archived") {
  Setup setup(false, "on");
  setup.target.rpo = std::chrono::seconds(5);
  auto results = setup.recorded("primary_archive_failing");
  for (auto column : {"last_archived_wal", "last_archived_time", "last_archived_time_seconds",
                      "last_archive_age"})
    set_cell(results[1], column, std::nullopt);
  auto sink = setup.run(results);
  CHECK(sink.find("pg_stat_archiver_last_archive_age") == nullptr);
  CHECK(value(sink, "pg_wal_archive_failing") == 1);
  // The oldest waiting segment (6.4 s) stands in for the archive age.
  CHECK(value(sink, "pg_wal_archive_rpo_breached") == 1);
  CHECK(sink.evidence().at("archiver.last_failure").find("last archived none") !=
        std::string::npos);

  set_cell(results[2], "ready_files", "0");
  set_cell(results[2], "oldest_ready_age_seconds", std::nullopt);
  set_cell(results[0], "current_lsn_bytes", "300000000");
  // WAL written but no segment completed and none archived: no verdict.
  CHECK(setup.run(results).find("pg_wal_archive_rpo_breached") == nullptr);
}

TEST_CASE("archiver: archive_mode on without a command is not enabled") {
  Setup setup(false, "on");
  auto results = setup.recorded("primary_idle");
  results[0] = repl_fixture::load("primary_archive_command_unset", "archiver_settings");
  auto sink = setup.run(results);
  CHECK(value(sink, "pg_wal_archiving_enabled") == 0);
  CHECK(value(sink, "pg_wal_archive_pending_files") == 0);  // WAL may pile up: still shown
  CHECK(sink.find("pg_wal_archive_rpo_seconds") == nullptr);
  CHECK(sink.find("pg_wal_archive_rpo_breached") == nullptr);
}

TEST_CASE("archiver: a standby with archive_mode=on emits only the setting") {
  Setup setup(true, "on");
  auto sink = setup.run(setup.recorded("standby_idle"));
  CHECK(value(sink, "pg_wal_archiving_enabled") == 1);
  CHECK(sink.families().size() == 1);
}

TEST_CASE("archiver: a standby with archive_mode=always archives") {
  Setup setup(true, "always");
  auto sink = setup.run(setup.recorded("standby_archive_always"));
  CHECK(value(sink, "pg_wal_archiving_enabled") == 1);
  CHECK(value(sink, "pg_stat_archiver_archived_count") == 1);
  CHECK(value(sink, "pg_wal_archive_pending_files") == 0);
  CHECK(value(sink, "pg_wal_archive_rpo_breached") == 0);
}

TEST_CASE("archiver: the fresh archive_mode and role override the connection snapshot") {
  // The snapshot says primary, but the server answers that it is in recovery
  // with archive_mode=on: the archiver does nothing there.
  Setup setup(false, "on");
  auto results = setup.recorded("primary_idle");
  results[0] = repl_fixture::load("standby_idle", "archiver_settings");
  auto sink = setup.run(results);
  CHECK(value(sink, "pg_wal_archiving_enabled") == 1);
  CHECK(sink.find("pg_stat_archiver_archived_count") == nullptr);
}

TEST_CASE("archiver: failed statements skip only what they feed") {
  Setup setup(false, "on");
  auto results = setup.recorded("primary_archive_failing");
  SUBCASE("stats failed") {
    results[1] = QueryResult::failure("57014", "canceling statement due to statement timeout");
    auto sink = setup.run(results);
    CHECK(value(sink, "pg_wal_archive_pending_files") == 2);
    CHECK(sink.find("pg_stat_archiver_archived_count") == nullptr);
    CHECK(sink.find("pg_wal_archive_rpo_breached") == nullptr);
  }
  SUBCASE("status directory failed") {
    results[2] = QueryResult::failure("42501", "permission denied for function");
    auto sink = setup.run(results);
    CHECK(value(sink, "pg_stat_archiver_failed_count") == 6);
    CHECK(sink.find("pg_wal_archive_pending_files") == nullptr);
    CHECK(sink.find("pg_wal_archive_rpo_breached") == nullptr);
  }
  SUBCASE("settings failed: the snapshot decides, no enabled verdict") {
    results[0] = QueryResult::failure("08006", "connection lost");
    auto sink = setup.run(results);
    CHECK(sink.find("pg_wal_archiving_enabled") == nullptr);
    CHECK(value(sink, "pg_stat_archiver_failed_count") == 6);
    CHECK(sink.find("pg_wal_archive_rpo_breached") == nullptr);
  }
  SUBCASE("no results at all") {
    CHECK(setup.run({}).empty());
  }
}
