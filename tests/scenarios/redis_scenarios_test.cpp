// Runbook scenarios 18-21: the Redis cache of the Lomash Wood runbook (seed
// 002, scenario 5 "Redis Cache Failure"; seed 001 lists a Redis outage runbook
// beside its failover one). Real redis-server 7 processes on loopback
// (tests/support/redis_server), each failure made the way it happens in
// production: the process killed, maxmemory reached under noeviction, a data
// directory that cannot be written, a replica whose master went away.
#include <doctest/doctest.h>

#include <iostream>
#include <string>

#include "scenarios/scenario.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/tmpfs_mount.hpp"

using namespace std::chrono_literals;
using pgvigil::scenarios::contains;
using pgvigil::scenarios::rule_toml;
using pgvigil::scenarios::Scenario;
using pgvigil::scenarios::SteadyClock;
using pgvigil::test::DaemonProcess;
using pgvigil::test::RedisServer;
using pgvigil::test::wait_until;

namespace {

const char* const kLomashWood = "002 scenario 5 (Redis cache failure, Lomash Wood)";

std::string redis_target(const std::string& name, const RedisServer& server) {
  return "[[target]]\nname = \"" + name +
         "\"\nkind = \"redis\"\naddress = \"127.0.0.1:" + std::to_string(server.port()) +
         "\"\ninterval = \"250ms\"\ntimeout = \"1s\"\n";
}

bool redis_up(const DaemonProcess& daemon, const std::string& target) {
  return daemon.metric("redis_up", {{"target", target}}) == 1.0;
}

// `mount -o remount,MODE` on a tmpfs: root ignores directory permissions, not
// a read-only filesystem.
void remount(const pgvigil::test::TmpfsMount& disk, const std::string& mode) {
  int exit_code = -1;
  const auto output = pgvigil::test::run_command(
      "mount -o remount," + mode + " " + pgvigil::test::shell_quote(disk.path()), &exit_code);
  INFO("mount -o remount," << mode << ": " << output);
  REQUIRE(exit_code == 0);
}

}  // namespace

TEST_CASE("scenario 18: redis-server killed pages RedisDown with reason refused") {
  Scenario scenario({18,
                     "Redis down: redis-server killed with SIGKILL, then started again",
                     std::string(kLomashWood) + " step 1 (redis-cli ping: connection refused); " +
                         "step 4 (restart Redis)",
                     "RedisDown (reason=refused, severity=critical; reason in evidence)",
                     "RedisDown for 30s → 2s; interval 250ms",
                     {"RedisDown"}});
  RedisServer server;
  DaemonProcess daemon(scenario.daemon_config(rule_toml("RedisDown", {{"for", "\"2s\""}}),
                                              redis_target("cache", server)));
  REQUIRE(wait_until([&] { return redis_up(daemon, "cache"); }, 10s));

  const auto killed = SteadyClock::now();
  server.kill();
  const auto alert = scenario.detect("RedisDown", {{"target", "cache"}, {"reason", "refused"}},
                                     killed, 20s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("evidence"), "reason: refused"));
  CHECK(contains(alert.annotation("runbook_url"), "RedisDown.md"));
  CHECK(SteadyClock::now() - killed >= 2s);  // never before its `for`

  const auto restarted = SteadyClock::now();
  server.restart();
  scenario.resolve("RedisDown", {{"target", "cache"}, {"reason", "refused"}}, restarted, 20s,
                   daemon.log());
  CHECK(redis_up(daemon, "cache"));
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 19: maxmemory reached under noeviction pages RedisMemoryNearMax") {
  Scenario scenario(
      {19,
       "Redis full: maxmemory 2 MiB with noeviction filled by 64 KiB SETs until "
       "writes fail with OOM, then FLUSHALL",
       std::string(kLomashWood) + " step 2 (info memory: used_memory), step 3 (FLUSHALL)",
       "RedisMemoryNearMax (severity=warning; used_memory and maxmemory in evidence)",
       "threshold 0.9 (unchanged); RedisMemoryNearMax for 5m → 1s",
       {}});
  RedisServer server({"--maxmemory", "2mb", "--maxmemory-policy", "noeviction"});
  DaemonProcess daemon(scenario.daemon_config(rule_toml("RedisMemoryNearMax", {{"for", "\"1s\""}}),
                                              redis_target("cache", server)));
  REQUIRE(wait_until([&] { return redis_up(daemon, "cache"); }, 10s));

  const std::string value(64 * 1024, 'x');
  std::string refused;
  int writes = 0;
  for (; writes < 1000; ++writes) {
    const auto reply = server.command({"SET", "fill:" + std::to_string(writes), value});
    if (reply != "OK") {
      refused = reply;
      break;
    }
  }
  const auto full = SteadyClock::now();
  INFO("writes until refused: " << writes << ", reply: " << refused);
  REQUIRE(contains(refused, "OOM"));
  const auto alert =
      scenario.detect("RedisMemoryNearMax", {{"target", "cache"}}, full, 20s, daemon.log());
  CHECK(alert.label("severity") == "warning");
  const auto evidence = alert.annotation("evidence");
  INFO("evidence: " << evidence);
  CHECK(contains(evidence, "maxmemory: 2097152 bytes"));
  CHECK(contains(evidence, "used_memory: "));

  // The runbook's step 3: FLUSHALL; writes are accepted again.
  const auto flushed = SteadyClock::now();
  REQUIRE(server.command({"FLUSHALL"}) == "OK");
  CHECK(server.command({"SET", "after", value}) == "OK");
  scenario.resolve("RedisMemoryNearMax", {{"target", "cache"}}, flushed, 20s, daemon.log());
  CHECK(daemon.metric("redis_memory_max_bytes", {{"target", "cache"}}) == 2.0 * 1024 * 1024);
  scenario.note(std::to_string(writes) + " SETs of 64 KiB before OOM; resolved by FLUSHALL");
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 20: BGSAVE into a read-only dir pages RedisRdbBgsaveFailing") {
  Scenario scenario({20,
                     "Redis snapshot failing: BGSAVE while the data directory (a tmpfs) is "
                     "remounted read-only, then remounted read-write and BGSAVE again",
                     std::string(kLomashWood) +
                         " (the cache's RDB snapshot; the runbook has no persistence step)",
                     "RedisRdbBgsaveFailing (severity=critical)",
                     "RedisRdbBgsaveFailing for 1m → 2s",
                     {"RedisRdbBgsaveFailing"}});
  pgvigil::test::TmpfsMount disk("size=16M");
  RedisServer server({"--dir", disk.path()});
  DaemonProcess daemon(scenario.daemon_config(
      rule_toml("RedisRdbBgsaveFailing", {{"for", "\"2s\""}}), redis_target("cache", server)));
  REQUIRE(wait_until([&] { return redis_up(daemon, "cache"); }, 10s));
  REQUIRE(server.command({"SET", "k", "v"}) == "OK");
  REQUIRE(server.command({"SAVE"}) == "OK");  // the directory works before
  CHECK(daemon.metric("redis_rdb_last_bgsave_status", {{"target", "cache"}}) == 1.0);

  remount(disk, "ro");
  const auto started = SteadyClock::now();
  CHECK(contains(server.command({"BGSAVE"}), "Background saving started"));
  const bool failed =
      wait_until([&] { return contains(server.info("persistence"), "rdb_last_bgsave_status:err"); },
                 10s)
          .has_value();
  if (!failed) std::cerr << server.log();
  REQUIRE(failed);
  const auto alert =
      scenario.detect("RedisRdbBgsaveFailing", {{"target", "cache"}}, started, 20s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(contains(alert.annotation("runbook_url"), "RedisRdbBgsaveFailing.md"));

  const auto fixed = SteadyClock::now();
  remount(disk, "rw");
  CHECK(contains(server.command({"BGSAVE"}), "Background saving started"));
  scenario.resolve("RedisRdbBgsaveFailing", {{"target", "cache"}}, fixed, 20s, daemon.log());
  CHECK(contains(server.info("persistence"), "rdb_last_bgsave_status:ok"));
  scenario.note("BGSAVE fails with EROFS (root ignores modes); resolution includes the new BGSAVE");
  scenario.check_no_unrelated_critical();
  scenario.passed();
}

TEST_CASE("scenario 21: a replica whose master is killed pages RedisReplicaLinkDown") {
  Scenario scenario({21,
                     "Redis replica link broken: the master of a streaming replica killed, then "
                     "started again on its port",
                     std::string(kLomashWood) +
                         " (a redis-master-0 StatefulSet: its replicas; not a runbook step); "
                         "001 related REDIS_OUTAGE runbook",
                     "RedisReplicaLinkDown (target=replica, master_port; severity=critical), "
                     "RedisDown (target=primary, reason=refused)",
                     "RedisReplicaLinkDown for 1m → 2s; RedisDown for 30s → 2s",
                     {"RedisReplicaLinkDown", "RedisDown"}});
  RedisServer primary;
  RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  // Linked before pgvigil looks: the first sync's short link-down is not
  // this scenario's failure.
  REQUIRE(wait_until([&] { return contains(replica.info("replication"), "master_link_status:up"); },
                     20s));
  DaemonProcess daemon(
      scenario.daemon_config(rule_toml("RedisReplicaLinkDown", {{"for", "\"2s\""}}) +
                                 rule_toml("RedisDown", {{"for", "\"2s\""}}),
                             redis_target("primary", primary) + redis_target("replica", replica)));
  REQUIRE(wait_until(
      [&] {
        return daemon.metric("redis_master_link_up", {{"target", "replica"}}) == 1.0;
      },
      20s));

  const auto killed = SteadyClock::now();
  primary.kill();
  const std::map<std::string, std::string> link{{"target", "replica"},
                                                {"master_port", std::to_string(primary.port())}};
  const auto alert = scenario.detect("RedisReplicaLinkDown", link, killed, 30s, daemon.log());
  CHECK(alert.label("severity") == "critical");
  CHECK(alert.label("master_host") == "127.0.0.1");
  CHECK(contains(alert.annotation("runbook_url"), "RedisReplicaLinkDown.md"));
  const auto down =
      scenario.await("RedisDown", "firing", {{"target", "primary"}}, 20s, 0, daemon.log());
  CHECK(down.label("reason") == "refused");
  scenario.note("RedisDown for the master after " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(down.received_at - killed)
                        .count()) +
                " ms");

  const auto restarted = SteadyClock::now();
  primary.restart();
  scenario.resolve("RedisReplicaLinkDown", link, restarted, 30s, daemon.log());
  CHECK(daemon.metric("redis_master_link_up", {{"target", "replica"}}) == 1.0);
  scenario.check_no_unrelated_critical();
  scenario.passed();
}
