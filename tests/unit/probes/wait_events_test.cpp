#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/wait_events.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  explicit Fixture(std::optional<std::size_t> top_n = std::nullopt) {
    if (top_n) target.probes["wait_events"].top_n = top_n;
  }
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_wait_events_probe();
  SampleSink sink;
};

double sessions(const SampleSink& sink, const std::string& type, const std::string& event) {
  const auto* sample =
      sink.find("pgvigil_wait_event_sessions", {{"wait_event_type", type}, {"wait_event", event}});
  return sample ? sample->gauge.value : -1;
}

const std::vector<std::string> kColumns{"pid",           "datname",
                                        "usename",       "application_name",
                                        "state",         "wait_event_type",
                                        "wait_event",    "own",
                                        "xact_seconds",  "query_seconds",
                                        "state_seconds", "lock_wait_seconds",
                                        "blocking_pids", "query"};

}  // namespace

TEST_CASE("wait events: recorded SQL is the probe's SQL for PostgreSQL 15") {
  const auto server = recorded::server();
  const config::TargetConfig target;
  const ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  recorded::record_or_compare("wait_events", make_wait_events_probe()->queries(ctx));
}

TEST_CASE("wait events: the recorded lock wait and sleep, and an empty other bucket") {
  Fixture f;
  const auto results = recorded::load_all("wait_events", f.probe->queries(f.ctx));
  f.probe->collect(f.ctx, results, f.sink);
  // The recording had one session waiting for a lock held by an idle
  // transaction, and one sleeping in pg_sleep.
  CHECK(sessions(f.sink, "Lock", "relation") == 1);
  CHECK(sessions(f.sink, "Timeout", "PgSleep") == 1);
  CHECK(sessions(f.sink, "other", "other") == 0);
  CHECK(f.sink.series_count("pgvigil_wait_event_sessions") == 3);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "wait_events"}})->gauge.value ==
        0);
}

TEST_CASE("wait events: top N by sessions, the rest summed under other") {
  Fixture f(2);
  std::vector<std::vector<std::optional<std::string>>> rows;
  int pid = 100;
  const auto add = [&](int count, std::optional<std::string> type, std::string event,
                       std::string state = "active", std::string application = "app",
                       std::string own = "f") {
    for (int i = 0; i < count; ++i)
      rows.push_back({std::to_string(pid++), "db", "u", application, state, type, event, own, "1",
                      "1", "1", std::nullopt, std::nullopt, "SELECT 1"});
  };
  add(3, "IO", "DataFileRead");
  add(7, "Lock", "relation");
  add(3, "LWLock", "WALWrite");
  add(1, "Client", "ClientRead");
  add(4, std::nullopt, "odd");
  // Not counted: idle sessions, pgvigil's sessions, the asking session.
  add(5, "Client", "ClientRead", "idle");
  add(2, "Lock", "relation", "active", "pgvigil");
  add(1, "Lock", "relation", "active", "psql", "t");
  std::vector<QueryResult> results{QueryResult::from_rows(kColumns, rows)};
  f.probe->collect(f.ctx, results, f.sink);
  CHECK(sessions(f.sink, "Lock", "relation") == 7);
  CHECK(sessions(f.sink, "IO", "DataFileRead") == 3);  // ties go by type, then event
  CHECK(sessions(f.sink, "LWLock", "WALWrite") == -1);
  CHECK(sessions(f.sink, "other", "other") == 4);  // WALWrite 3 + ClientRead 1; a NULL row none
  CHECK(f.sink.series_count("pgvigil_wait_event_sessions") == 3);

  // Nothing waits: only the other bucket, at 0.
  SampleSink idle;
  std::vector<QueryResult> none{QueryResult::from_rows(kColumns, {})};
  f.probe->collect(f.ctx, none, idle);
  CHECK(idle.series_count("pgvigil_wait_event_sessions") == 1);
  CHECK(sessions(idle, "other", "other") == 0);

  // A failed statement: no series, the permission flag when that was why.
  SampleSink denied;
  std::vector<QueryResult> failed{QueryResult::failure("42501", "permission denied")};
  f.probe->collect(f.ctx, failed, denied);
  CHECK(denied.series_count("pgvigil_wait_event_sessions") == 0);
  CHECK(denied.find("pgvigil_probe_permission_denied", {{"probe", "wait_events"}})->gauge.value ==
        1);
}

TEST_CASE("wait events: rank_wait_events keeps at most N and loses no session") {
  std::vector<WaitEventCount> counts;
  double total = 0;
  for (int i = 0; i < 30; ++i) {
    counts.push_back({"T" + std::to_string(i % 4), "E" + std::to_string(i), double(i % 7 + 1)});
    total += i % 7 + 1;
  }
  for (std::size_t n : {1u, 5u, 29u, 30u, 100u}) {
    CAPTURE(n);
    const auto ranked = rank_wait_events(counts, n);
    CHECK(ranked.top.size() == std::min<std::size_t>(n, 30));
    double sum = ranked.other;
    for (std::size_t i = 0; i < ranked.top.size(); ++i) {
      sum += ranked.top[i].sessions;
      if (i > 0) CHECK(ranked.top[i - 1].sessions >= ranked.top[i].sessions);
    }
    CHECK(sum == total);
    if (n < 30) CHECK(ranked.other > 0);
  }
}
