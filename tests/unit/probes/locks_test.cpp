#include <doctest/doctest.h>

#include <set>

#include "data/sql/recorded.hpp"
#include "probes/locks.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_locks_probe();
  std::vector<QueryResult> results = recorded::load_all("locks", probe->queries(ctx));
  SampleSink sink;
};

}  // namespace

TEST_CASE("locks: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("locks", f.probe->queries(f.ctx));
}

TEST_CASE("locks: every mode for every database, 0 where none") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  std::set<std::string> databases;
  for (std::size_t row = 0; row < f.results[0].rows.size(); ++row)
    databases.emplace(*f.results[0].text(row, "datname"));
  CHECK(databases.contains("appdb"));
  CHECK(databases.contains("template0"));
  CHECK(f.sink.series_count("pg_locks_count") == databases.size() * 9);
  // Recorded while a session held ACCESS EXCLUSIVE on appdb.lockme and another waited.
  CHECK(f.sink.find("pg_locks_count", {{"datname", "appdb"}, {"mode", "accessexclusivelock"}})
            ->gauge.value == 1);
  CHECK(
      f.sink.find("pg_locks_count", {{"datname", "appdb"}, {"mode", "sireadlock"}})->gauge.value ==
      0);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "locks"}})->gauge.value == 0);
}

TEST_CASE("locks: failures and NULLs") {
  Fixture f;
  std::vector<QueryResult> failed{QueryResult::failure("42501", "permission denied")};
  f.probe->collect(f.ctx, failed, f.sink);
  CHECK(f.sink.series_count("pg_locks_count") == 0);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "locks"}})->gauge.value == 1);

  SampleSink sink;
  std::vector<QueryResult> odd{QueryResult::from_rows(
      {"datname", "mode", "count"},
      {{"a", "sharelock", std::nullopt}, {std::nullopt, "sharelock", "1"}, {"a", "x", "2"}})};
  f.probe->collect(f.ctx, odd, sink);
  CHECK(sink.series_count("pg_locks_count") == 1);
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, sink));
}
