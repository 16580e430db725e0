// Targets from Patroni's etcd ([[patroni_sd]]) against a real etcd and a real
// two-member Patroni cluster: every member discovered with its patroni_url, a
// switchover followed by the templates, a member key added and removed, a
// broken member key and an unreachable etcd keeping the last good list.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>

#include "config/http_url.hpp"
#include "support/daemon_process.hpp"
#include "support/patroni_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PatroniTestCluster;
using pgvigil::test::wait_until;

namespace {

constexpr const char* kScope = "pgvigil-test";

// PUT or DELETE of one key through etcd's v3 JSON gateway, as Patroni would.
bool etcd_put(int port, const std::string& key, const std::string& value) {
  const std::string body = "{\"key\": \"" + pgvigil::config::base64_encode(key) +
                           "\", \"value\": \"" + pgvigil::config::base64_encode(value) + "\"}";
  return pgvigil::test::http_request(port, "POST", "/v3/kv/put", body).status == 200;
}

bool etcd_delete(int port, const std::string& key) {
  const std::string body = "{\"key\": \"" + pgvigil::config::base64_encode(key) + "\"}";
  return pgvigil::test::http_request(port, "POST", "/v3/kv/deleterange", body).status == 200;
}

std::string member_key(const std::string& member) {
  return std::string("/service/") + kScope + "/members/" + member;
}

std::string target_of(const std::string& member) {
  return std::string(kScope) + "." + member;
}

}  // namespace

TEST_CASE("patroni_sd: members from etcd, a switchover, members added and removed, bad keys") {
  if (!pgvigil::test::has_patroni()) {
    MESSAGE("patroni, etcd or PostgreSQL 15 is not installed; skipping");
    return;
  }
  PatroniTestCluster cluster(/*replica_can_fail_over=*/true);
  const int etcd = cluster.etcd_port();
  // The first endpoint refuses: every refresh falls back to the second.
  DaemonProcess daemon(
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[probes.liveness]\ninterval = \"500ms\"\n"
      "[probes.patroni]\ninterval = \"1s\"\n"
      "[[patroni_sd]]\netcd = [\"http://127.0.0.1:1\", \"http://127.0.0.1:" +
      std::to_string(etcd) +
      "\"]\nrefresh_interval = \"1s\"\ntimeout = \"1s\"\n"
      // The role picks the template: a switchover must show in the labels.
      "[[target_template]]\nmatch = { __meta_patroni_role = \"primary\" }\n"
      "user = \"postgres\"\ndbname = \"postgres\"\nlabels = { patroni_role = \"primary\" }\n"
      "[[target_template]]\nmatch = {}\n"
      "user = \"postgres\"\ndbname = \"postgres\"\nlabels = { patroni_role = \"replica\" }\n");

  const auto up_as = [&](const std::string& member, const std::string& role) {
    return daemon.metric("pg_up", {{"target", target_of(member)},
                                   {"cluster", kScope},
                                   {"member", member},
                                   {"patroni_role", role}}) == 1.0;
  };
  const auto found = wait_until(
      [&] { return up_as("node-a", "primary") && up_as("node-b", "replica"); }, 20s, 100ms);
  if (!found) std::cerr << daemon.log() << cluster.logs();
  REQUIRE(found);
  MESSAGE("both members discovered and up after " << found->count() << " ms");
  CHECK(daemon.metric("pgvigil_sd_targets", {{"source", "patroni_sd"}}) == 2.0);
  // patroni_url came from the member's api_url: the Patroni probe runs.
  CHECK(wait_until(
      [&] {
        return daemon.metric("patroni_up", {{"target", target_of("node-a")}}) == 1.0;
      },
      10s));

  SUBCASE("a switchover is reflected within 5 s") {
    REQUIRE(cluster.switchover("a", "b"));
    const auto reflected = wait_until(
        [&] { return up_as("node-b", "primary") && up_as("node-a", "replica"); }, 30s, 100ms);
    if (!reflected) std::cerr << daemon.log() << cluster.logs();
    REQUIRE(reflected);
    MESSAGE("switchover reflected " << reflected->count() << " ms after Patroni confirmed it");
    CHECK(*reflected <= 5s);
  }

  SUBCASE("a member key added and removed, then a broken key") {
    // A new member (Patroni's key shape) pointing at node-b's servers.
    const std::string value =
        "{\"conn_url\": \"postgres://127.0.0.1:" + std::to_string(cluster.pg_port("b")) +
        "/postgres\", \"api_url\": \"" + cluster.rest_url("b") +
        "/patroni\", \"state\": \"running\", \"role\": \"replica\"}";
    REQUIRE(etcd_put(etcd, member_key("node-c"), value));
    const auto added = wait_until([&] { return up_as("node-c", "replica"); }, 10s, 100ms);
    REQUIRE(added);
    MESSAGE("new member up " << added->count() << " ms after its key was written");
    CHECK(*added <= 5s);
    REQUIRE(etcd_delete(etcd, member_key("node-c")));
    const auto removed = wait_until(
        [&] {
          return !daemon.metric("pg_up", {{"target", target_of("node-c")}}).has_value();
        },
        10s, 100ms);
    REQUIRE(removed);
    CHECK(*removed <= 5s);

    // A member key without conn_url: the refresh fails, names the key, the list stays.
    const double failures =
        daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "patroni_sd"}}).value_or(0);
    REQUIRE(etcd_put(etcd, member_key("broken"), "{\"state\": \"running\"}"));
    CHECK(wait_until(
        [&] {
          return daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "patroni_sd"}})
                     .value_or(0) > failures;
        },
        10s));
    CHECK(daemon.log().find("key /service/pgvigil-test/members/broken: no conn_url") !=
          std::string::npos);
    CHECK(up_as("node-a", "primary"));
    CHECK(daemon.metric("pgvigil_sd_targets", {{"source", "patroni_sd"}}) == 2.0);
    REQUIRE(etcd_delete(etcd, member_key("broken")));
    CHECK(
        wait_until([&] { return daemon.log().find("refreshes again") != std::string::npos; }, 10s));
  }
}

TEST_CASE("patroni_sd: an unreachable etcd is counted and logged, the daemon keeps serving") {
  DaemonProcess daemon(
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[[patroni_sd]]\nname = \"dcs\"\netcd = [\"http://127.0.0.1:1\"]\n"
      "refresh_interval = \"500ms\"\ntimeout = \"1s\"\n");
  CHECK(wait_until(
      [&] {
        return daemon.metric("pgvigil_sd_refresh_failures_total", {{"source", "dcs"}})
                   .value_or(0) >= 2.0;
      },
      10s));
  CHECK(daemon.log().find("discovery: source dcs: etcd http://127.0.0.1:1") != std::string::npos);
  CHECK(daemon.metric("pgvigil_sd_targets", {{"source", "dcs"}}) == 0.0);
  CHECK_FALSE(
      daemon.metric("pgvigil_sd_last_refresh_success_timestamp_seconds", {{"source", "dcs"}})
          .value_or(0) > 0);
}
