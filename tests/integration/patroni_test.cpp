// Patroni awareness against a real Patroni 3.0 cluster (etcd 3.4 as its DCS,
// two PostgreSQL 15 members on loopback), watched by the real pgvigil binary.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>

#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/patroni_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PatroniTestCluster;
using pgvigil::test::wait_until;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kUrlSecret = "patroni-url-secret";

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

std::string daemon_config(const PatroniTestCluster& cluster, int closed_port) {
  auto target = [](const std::string& name, int port, const std::string& url) {
    return "[[target]]\nname = \"" + name +
           "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
           "\nuser = \"postgres\"\ndbname = \"postgres\"\npatroni_url = \"" + url + "\"\n";
  };
  const std::string b_with_credentials = "http://watcher:" + std::string(kUrlSecret) +
                                         "@127.0.0.1:" + std::to_string(cluster.rest_port("b"));
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n"
         "[probes.liveness]\ninterval = \"500ms\"\n"
         "[probes.patroni]\ninterval = \"500ms\"\ntimeout = \"2s\"\n"
         "[alerting]\nevaluation_interval = \"200ms\"\n"
         "[alerting.rules.PatroniNoLeader]\nfor = \"2s\"\n" +
         target("node-a", cluster.pg_port("a"), cluster.rest_url("a")) +
         target("node-b", cluster.pg_port("b"), b_with_credentials) +
         // PostgreSQL not reachable at all, Patroni fine: its series must stay.
         target("patroni-only", closed_port, cluster.rest_url("b"));
}

}  // namespace

TEST_CASE("patroni: real cluster, healthy, then leader killed: no leader and PatroniNoLeader") {
  if (!pgvigil::test::has_patroni()) {
    MESSAGE("patroni, etcd or PostgreSQL 15 is not installed; skipping");
    return;
  }
  PatroniTestCluster cluster;
  std::cout << "Patroni cluster (etcd + leader + streaming replica) ready in "
            << cluster.start_time().count() << " ms\n";
  DaemonProcess daemon(daemon_config(cluster, pgvigil::test::free_loopback_port()));
  auto metric = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    return daemon.metric(name, labels);
  };

  // (a) Healthy: node-a leads, node-b replicates, timeline 1, seen from both.
  const bool healthy = wait_until(
                           [&] {
                             return metric("patroni_up", {{"target", "node-b"}}) == 1.0 &&
                                    metric("patroni_up", {{"target", "node-a"}}) == 1.0 &&
                                    metric("patroni_up", {{"target", "patroni-only"}}) == 1.0 &&
                                    metric("pg_up", {{"target", "node-b"}}) == 1.0;
                           },
                           20s)
                           .has_value();
  if (!healthy) std::cerr << daemon.log() << cluster.logs();
  REQUIRE(healthy);
  for (const std::string target : {"node-a", "node-b"}) {
    CAPTURE(target);
    CHECK(metric("patroni_cluster_unlocked", {{"target", target}}) == 0.0);
    CHECK(metric("patroni_cluster_members", {{"target", target}}) == 2.0);
    CHECK(metric("patroni_leader_info", {{"target", target}, {"member", "node-a"}}) == 1.0);
    CHECK(metric("patroni_member_role",
                 {{"target", target}, {"member", "node-a"}, {"role", "leader"}}) == 1.0);
    CHECK(metric("patroni_member_role",
                 {{"target", target}, {"member", "node-b"}, {"role", "replica"}}) == 1.0);
    // Patroni 3.0.2 reports a streaming replica as "running"; later releases say "streaming".
    CHECK((metric("patroni_member_state",
                  {{"target", target}, {"member", "node-b"}, {"state", "running"}}) == 1.0 ||
           metric("patroni_member_state",
                  {{"target", target}, {"member", "node-b"}, {"state", "streaming"}}) == 1.0));
    CHECK(metric("patroni_member_timeline", {{"target", target}, {"member", "node-a"}}) == 1.0);
    CHECK(metric("patroni_member_timeline", {{"target", target}, {"member", "node-b"}}) == 1.0);
    CHECK(
        metric("patroni_member_lag_bytes", {{"target", target}, {"member", "node-b"}}).has_value());
    CHECK(metric("patroni_member_nofailover", {{"target", target}, {"member", "node-b"}}) == 1.0);
    CHECK(metric("patroni_is_paused", {{"target", target}}) == 0.0);
    CHECK(metric("patroni_leader_changes_total", {{"target", target}}) == 0.0);
  }
  // Patroni's series do not depend on PostgreSQL being reachable.
  CHECK(metric("pg_up", {{"target", "patroni-only"}}) == 0.0);
  CHECK(metric("patroni_cluster_unlocked", {{"target", "patroni-only"}}) == 0.0);
  CHECK(metric("patroni_member_role",
               {{"target", "patroni-only"}, {"member", "node-a"}, {"role", "leader"}}) == 1.0);
  // Every patroni_* family served is in docs/metrics.md (metrics_documented
  // runs without Patroni).
  {
    const auto docs =
        pgvigil::test::read_file(std::string(PGVIGIL_SOURCE_DIR) + "/docs/metrics.md");
    std::istringstream lines(daemon.metrics());
    std::size_t families = 0;
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("# TYPE patroni_")) continue;
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      ++families;
      CHECK_MESSAGE(docs.find("`" + name + "`") != std::string::npos,
                    "not in docs/metrics.md: " << name);
    }
    CHECK(families >= 12);
  }
  // The password in node-b's patroni_url stays secret.
  CHECK(daemon.metrics().find(kUrlSecret) == std::string::npos);
  CHECK(daemon.log().find(kUrlSecret) == std::string::npos);

  // (b) kill -9 of node-a's Patroni and PostgreSQL: node-b is nofailover, so
  // once the leader key expires (ttl) nobody leads.
  const auto killed = Steady::now();
  cluster.kill_member("a");
  const auto unlocked = wait_until(
      [&] {
        return metric("patroni_cluster_unlocked", {{"target", "node-b"}}) == 1.0;
      },
      45s, 100ms);
  if (!unlocked) std::cerr << daemon.log() << cluster.logs();
  REQUIRE(unlocked);
  std::cout << "patroni_cluster_unlocked 1 in /metrics "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - killed).count()
            << " ms after the leader was killed (ttl 20 s)\n";
  CHECK(metric("patroni_leader_info", {{"target", "node-b"}, {"member", "node-a"}}) ==
        std::nullopt);
  // The same endpoint seen through the target whose PostgreSQL is unreachable
  // (its own round may come a moment later).
  const bool seen_without_postgres =
      wait_until(
          [&] {
            return metric("patroni_cluster_unlocked", {{"target", "patroni-only"}}) == 1.0;
          },
          10s, 100ms)
          .has_value();
  if (!seen_without_postgres) std::cerr << daemon.log();
  CHECK(seen_without_postgres);

  const auto fired = wait_until(
      [&] {
        return metric("pgvigil_alert_active", {{"alertname", "PatroniNoLeader"},
                                               {"target", "node-b"},
                                               {"alertstate", "firing"}}) == 1.0;
      },
      15s, 100ms);
  if (!fired) std::cerr << daemon.log();
  REQUIRE(fired);
  std::cout << "PatroniNoLeader firing "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - killed).count()
            << " ms after the leader was killed (for = 2 s)\n";
  const auto api =
      pgvigil::test::http_get(daemon.port(), "/api/v1/alerts?alertname=PatroniNoLeader");
  CHECK(api.status == 200);
  CHECK(api.body.find("\"severity\":\"critical\"") != std::string::npos);
  CHECK(api.body.find("NO LEADER") != std::string::npos);  // evidence: the member table
  CHECK(api.body.find("node-b") != std::string::npos);

  // node-a's Patroni is gone: patroni_up 0, its member series gone, counted as
  // a probe failure, logged once (not every round).
  CHECK(metric("patroni_up", {{"target", "node-a"}}) == 0.0);
  CHECK(metric("patroni_cluster_unlocked", {{"target", "node-a"}}) == std::nullopt);
  CHECK(metric("patroni_member_role", {{"target", "node-a"}}) == std::nullopt);
  CHECK(metric("pgvigil_probe_failures_total", {{"target", "node-a"}, {"probe", "patroni"}})
            .value_or(0) >= 2.0);
  const std::string not_usable =
      "target node-a: Patroni at " + cluster.rest_url("a") + " not usable";
  CHECK(occurrences(daemon.log(), not_usable) == 1);
  {  // what the other targets logged about Patroni, for the record
    std::istringstream log(daemon.log());
    for (std::string line; std::getline(log, line);)
      if (line.find("Patroni at") != std::string::npos && line.find("node-a") == std::string::npos)
        std::cout << "daemon: " << line << "\n";
  }
  CHECK(daemon.log().find(kUrlSecret) == std::string::npos);
}
