// INFO text -> samples, on replies captured from a real redis-server 7.0
// (tests/data/redis/README.md), and the bad-input cases.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "probes/redis_info.hpp"

using namespace pgvigil;
using namespace pgvigil::redis;

namespace {

std::string recorded(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/redis/" + name);
  REQUIRE_MESSAGE(in.good(), name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

SampleSink samples_of(const std::string& file, ConfigValues config = {}) {
  const auto parsed = parse_info(recorded(file));
  INFO(parsed.error);
  REQUIRE(parsed.info.has_value());
  SampleSink sink;
  collect_info(*parsed.info, config, sink);
  return sink;
}

double value(const SampleSink& sink, std::string_view name, const Labels& labels = {}) {
  const auto* metric = sink.find(name, labels);
  REQUIRE_MESSAGE(metric != nullptr, name);
  return metric->gauge.value != 0 ? metric->gauge.value : metric->counter.value;
}

}  // namespace

TEST_CASE("redis info: a primary's INFO all") {
  const auto sink = samples_of("info_primary.txt");
  CHECK(value(sink, "redis_connected_clients") == 1);
  CHECK(value(sink, "redis_config_maxclients") == 10000);
  CHECK(value(sink, "redis_memory_max_bytes") == 100 * 1024 * 1024);
  CHECK(value(sink, "redis_memory_used_bytes") > 0);
  CHECK(value(sink, "redis_mem_fragmentation_ratio") == doctest::Approx(7.11));
  CHECK(value(sink, "redis_keyspace_hits_total") == 1);
  CHECK(value(sink, "redis_keyspace_misses_total") == 1);
  CHECK(value(sink, "redis_commands_processed_total") == 7);
  CHECK(value(sink, "redis_rdb_last_bgsave_status") == 1);
  CHECK(value(sink, "redis_aof_last_write_status") == 1);
  CHECK(sink.find("redis_connected_slaves")->gauge.value == 0);
  CHECK(sink.find("redis_rejected_connections_total") != nullptr);
  CHECK(sink.find("redis_blocked_clients") != nullptr);
  CHECK(sink.find("redis_uptime_in_seconds") != nullptr);
  CHECK(sink.find("redis_evicted_keys_total") != nullptr);
  CHECK(sink.find("redis_expired_keys_total") != nullptr);
  CHECK(value(sink, "redis_db_keys", {{"db", "db0"}}) == 2);
  CHECK(value(sink, "redis_db_keys_expiring", {{"db", "db0"}}) == 1);
  CHECK(value(sink, "redis_db_keys", {{"db", "db3"}}) == 1);
  CHECK(sink.series_count("redis_db_keys") == 2);
  // A primary has no master link.
  CHECK(sink.series_count("redis_master_link_up") == 0);
  REQUIRE(sink.series_count("redis_instance_info") == 1);
  const auto& info = sink.families()[0];  // any family: find the instance info below
  (void)info;
  bool found = false;
  for (const auto& family : sink.families()) {
    if (family.name != "redis_instance_info") continue;
    for (const auto& label : family.metric.at(0).label) {
      if (label.name == "role") CHECK(label.value == "master");
      if (label.name == "redis_version") CHECK(label.value == "7.0.15");
      if (label.name == "maxmemory_policy") CHECK(label.value == "noeviction");
    }
    found = true;
  }
  CHECK(found);
}

TEST_CASE("redis info: CONFIG GET values win over INFO's") {
  const auto sink = samples_of("info_primary.txt", {.maxmemory = 5, .maxclients = 7});
  CHECK(value(sink, "redis_memory_max_bytes") == 5);
  CHECK(value(sink, "redis_config_maxclients") == 7);
}

TEST_CASE("redis info: replicas, link up and down, primary with a replica") {
  const auto up = samples_of("info_replica_up.txt");
  CHECK(value(up, "redis_master_link_up",
              {{"master_host", "127.0.0.1"}, {"master_port", "16399"}}) == 1);
  const auto down = samples_of("info_replica_link_down.txt");
  const auto* link =
      down.find("redis_master_link_up", {{"master_host", "127.0.0.1"}, {"master_port", "16399"}});
  REQUIRE(link != nullptr);
  CHECK(link->gauge.value == 0);
  const auto primary = samples_of("info_primary_with_replica.txt");
  CHECK(value(primary, "redis_connected_slaves") == 1);
}

TEST_CASE("redis info: bad input fails with a reason, never a crash") {
  CHECK(parse_info("").error.find("lacks") != std::string::npos);
  CHECK(parse_info("-ERR unknown command").error.find("not key:value") != std::string::npos);
  const auto line = parse_info("# Server\r\nredis_version:7.0.15\r\ngarbage line\r\n");
  CHECK_FALSE(line.info.has_value());
  CHECK(line.error.find("line 3") != std::string::npos);
  const auto keyspace = parse_info(
      "# Server\r\nredis_version:7\r\nuptime_in_seconds:1\r\n# Keyspace\r\ndb0:expires=x\r\n");
  CHECK_FALSE(keyspace.info.has_value());
  CHECK(keyspace.error.find("keyspace") != std::string::npos);
  // Control characters and long lines are not echoed into the error.
  const auto binary = parse_info(std::string("\x01\x02\x1b[31m") + std::string(500, 'x'));
  CHECK(binary.error.size() < 120);
  CHECK(binary.error.find('\x1b') == std::string::npos);
  // A truncated reply still parses what it has, or says why not.
  const auto text = recorded("info_primary.txt");
  for (std::size_t cut = 0; cut < text.size(); cut += 37) {
    const auto partial = parse_info(std::string_view(text).substr(0, cut));
    CHECK((partial.info.has_value() || !partial.error.empty()));
  }
  // Numbers that are not numbers give no sample.
  const auto odd =
      parse_info("redis_version:7\nuptime_in_seconds:abc\nconnected_clients:1e400\nrole:master\n");
  REQUIRE(odd.info.has_value());
  SampleSink sink;
  collect_info(*odd.info, {}, sink);
  CHECK(sink.find("redis_uptime_in_seconds") == nullptr);
  CHECK(sink.find("redis_connected_clients") == nullptr);
}

TEST_CASE("redis error replies map to down reasons") {
  CHECK(classify_error_reply("NOAUTH Authentication required.") == DownReason::auth_failed);
  CHECK(classify_error_reply("WRONGPASS invalid username-password pair or user is disabled.") ==
        DownReason::auth_failed);
  CHECK(classify_error_reply("ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?") ==
        DownReason::auth_failed);
  CHECK(classify_error_reply("LOADING Redis is loading the dataset in memory") ==
        DownReason::loading);
  CHECK(classify_error_reply("BUSY Redis is busy running a script.") == DownReason::busy);
  CHECK(classify_error_reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is "
                             "set to 'no'.") == DownReason::masterdown);
  CHECK(classify_error_reply("ERR unknown command 'INFO'") == DownReason::other);
  CHECK(classify_error_reply("") == DownReason::other);
}

TEST_CASE("redis liveness: redis_up and the reason state set") {
  Liveness live;
  live.up = false;
  live.reason = DownReason::refused;
  live.failures[DownReason::refused] = 3;
  SampleSink sink;
  live.emit(sink);
  CHECK(sink.find("redis_up")->gauge.value == 0);
  CHECK(sink.find("redis_connection_failure", {{"reason", "refused"}})->gauge.value == 1);
  CHECK(sink.find("redis_connection_failure", {{"reason", "none"}})->gauge.value == 0);
  CHECK(sink.series_count("redis_connection_failure") == down_reason_names().size());
  CHECK(sink.find("redis_connection_failures_total", {{"reason", "refused"}})->counter.value == 3);
}
