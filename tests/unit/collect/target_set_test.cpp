// The target set: static targets, discovered entries through templates,
// conflicts, and the shard's share (pure; the sources' I/O is tested in
// tests/integration/discovery_test.cpp).
#include "collect/target_set.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace pgvigil;
using namespace pgvigil::collect;

namespace {

config::SdEntry entry(std::string address, std::map<std::string, std::string> labels = {},
                      std::string origin = "t.json:1") {
  return {std::move(address), std::move(labels), std::move(origin)};
}

config::TargetConfig static_target(std::string name) {
  config::TargetConfig t;
  t.name = std::move(name);
  t.conn["host"] = "10.0.0.1";
  return t;
}

const config::TargetConfig* find(const TargetSet& set, std::string_view name) {
  for (const auto& t : set.targets)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("hashmod: Prometheus' relabel hashmod (MD5, last 8 bytes big-endian)") {
  // Reference values: Python's hashlib.md5(v).digest()[8:] read big-endian,
  // which is what Prometheus' relabel.go computes.
  CHECK(hashmod("db1:5432", 1ULL << 63) == 7619868832529871926ULL % (1ULL << 63));
  CHECK(hashmod("db1:5432", 3) == 2);
  CHECK(hashmod("db1:5432", 10) == 6);
  CHECK(hashmod("127.0.0.1:5432", 3) == 0);
  CHECK(hashmod("127.0.0.1:5432", 10) == 7);
  CHECK(hashmod("orders-0", 10) == 2);
  CHECK(hashmod("", 3) == 1);
}

TEST_CASE("shards partition a 100-target list exactly") {
  config::Config config;
  std::vector<config::SdEntry> entries;
  for (int i = 0; i < 100; ++i) entries.push_back(entry("db" + std::to_string(i) + ":5432"));
  for (std::uint32_t shards : {1U, 2U, 3U, 7U}) {
    std::multiset<std::string> seen;
    for (std::uint32_t shard = 0; shard < shards; ++shard) {
      config.shards = shards;
      config.shard = shard;
      const auto set = build_target_set(config, {{"files", entries}});
      for (const auto& t : set.targets) {
        seen.insert(t.name);
        CHECK(hashmod(t.name, shards) == shard);
      }
      CHECK(set.targets.size() + set.outside_shard == 100);
    }
    CHECK(seen.size() == 100);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 100);  // each exactly once
  }
}

TEST_CASE("a discovered entry: name, address, dbname, labels and the first matching template") {
  config::Config config;
  config.discovery_defaults.conn["user"] = "monitor";
  config::TargetTemplate orders;
  orders.match = {{"cluster", "orders"}};
  orders.base.conn["user"] = "orders_monitor";
  orders.base.password_file = "/etc/pgvigil/orders.pw";
  orders.base.labels["team"] = "payments";
  orders.base.expected_replicas = 2;
  config::TargetTemplate by_source;
  by_source.match = {{"__source__", "k8s"}};
  by_source.base.conn["sslmode"] = "require";
  config.target_templates = {orders, by_source};

  const auto set = build_target_set(
      config, {{"k8s",
                {entry("db1:5433", {{"cluster", "orders"}, {"dbname", "shop"}, {"env", "prod"}}),
                 entry("[::1]:5432", {{"target", "local"}, {"__meta_zone", "a"}}),
                 entry("db2", {{"team", "search"}})}}});
  REQUIRE(set.targets.size() == 3);
  REQUIRE(set.problems.empty());
  const auto* db1 = find(set, "db1:5433");
  REQUIRE(db1);
  CHECK(db1->conn.at("host") == "db1");
  CHECK(db1->conn.at("port") == "5433");
  CHECK(db1->conn.at("dbname") == "shop");
  CHECK(db1->conn.at("user") == "orders_monitor");
  CHECK(db1->password_file == "/etc/pgvigil/orders.pw");
  CHECK(db1->expected_replicas == 2);
  // Discovered labels are exported; target, dbname and __* are used up.
  CHECK(db1->labels == std::map<std::string, std::string>{
                           {"cluster", "orders"}, {"env", "prod"}, {"team", "payments"}});
  const auto* local = find(set, "local");
  REQUIRE(local);
  CHECK(local->conn.at("host") == "::1");
  CHECK(local->conn.at("sslmode") == "require");  // matched by __source__
  CHECK(local->labels.empty());
  const auto* db2 = find(set, "db2");
  REQUIRE(db2);
  CHECK(db2->conn.at("port") == "5432");
  CHECK(db2->labels.at("team") == "search");  // the entry's label wins over a template's
  CHECK(set.per_source.at("k8s") == 3);

  config.target_templates.clear();
  const auto plain = build_target_set(config, {{"k8s", {entry("db3:5432")}}});
  REQUIRE(plain.targets.size() == 1);
  CHECK(plain.targets[0].conn.at("user") == "monitor");  // the global defaults
}

TEST_CASE("conflicts: the first definition wins, the same way every time") {
  config::Config config;
  config.targets = {static_target("primary")};
  const std::vector<DiscoveredSource> sources{
      {"files",
       {entry("primary:5432", {{"target", "primary"}}, "a.json:3"),
        entry("x:5432", {}, "a.json:4")}},
      {"http", {entry("x:5432", {}, "http:1"), entry("y:5432", {}, "http:2")}}};
  for (int round = 0; round < 2; ++round) {
    const auto set = build_target_set(config, sources);
    REQUIRE(set.targets.size() == 3);
    CHECK(set.targets[0].name == "primary");
    CHECK(set.targets[0].conn.at("host") == "10.0.0.1");  // the static one
    CHECK(find(set, "x:5432"));
    CHECK(set.per_source.at("files") == 1);
    CHECK(set.per_source.at("http") == 1);
    REQUIRE(set.problems.size() == 2);
    CHECK(set.problems[0] ==
          "source files (a.json:3): target primary is already defined by [[target]] primary; "
          "this entry is left out");
    CHECK(set.problems[1].find("source http (http:1): target x:5432 is already defined by "
                               "source files (a.json:4)") == 0);
  }
}

TEST_CASE("a bad address is left out with a reason") {
  config::Config config;
  const auto set = build_target_set(config, {{"f", {entry("db:notaport"), entry("ok:1")}}});
  REQUIRE(set.targets.size() == 1);
  REQUIRE(set.problems.size() == 1);
  CHECK(set.problems[0].find("address is not host:port") != std::string::npos);
}

TEST_CASE("discovered target names are usable names") {
  CHECK(discovered_target_name(entry("[::1]:5432")) == "_::1_:5432");
  CHECK(discovered_target_name(entry("db:5432", {{"target", "orders/eu"}})) == "orders_eu");
}

TEST_CASE("--shard: a number, or the host name's trailing ordinal") {
  CHECK(parse_shard_argument("3", "x") == 3U);
  CHECK(parse_shard_argument("hostname", "pgvigil-2") == 2U);
  CHECK(parse_shard_argument("hostname", "pgvigil-shard-12") == 12U);
  CHECK_FALSE(parse_shard_argument("hostname", "pgvigil"));
  CHECK_FALSE(parse_shard_argument("hostname", "pgvigil-a"));
  CHECK_FALSE(parse_shard_argument("-1", "x"));
  CHECK_FALSE(parse_shard_argument("", "x"));
}

TEST_CASE("redis targets: sharded by name like the rest and their names held against discovery") {
  config::Config config;
  for (int i = 0; i < 40; ++i) {
    config::ServiceTargetConfig redis;
    redis.name = "cache" + std::to_string(i);
    redis.host = "10.0.1." + std::to_string(i);
    config.service_targets.push_back(redis);
  }
  config.shards = 3;
  std::set<std::string> seen;
  for (std::uint32_t shard = 0; shard < 3; ++shard) {
    config.shard = shard;
    const auto set = build_target_set(config, {});
    CHECK(set.targets.empty());
    for (const auto& redis : set.service_targets) {
      CHECK(hashmod(redis.name, 3) == shard);
      CHECK(seen.insert(redis.name).second);
      CHECK(set.origin_of.at(redis.name) == "[[target]] " + redis.name);
    }
    CHECK(set.service_targets.size() + set.outside_shard == 40);
  }
  CHECK(seen.size() == 40);

  // A discovered entry cannot take a Redis target's name.
  config.shards = 1;
  config.shard = 0;
  const auto set =
      build_target_set(config, {{"files", {entry("db:5432", {{"target", "cache7"}}, "a.json:1")}}});
  CHECK(set.targets.empty());
  REQUIRE(set.problems.size() == 1);
  CHECK(set.problems[0] ==
        "source files (a.json:1): target cache7 is already defined by [[target]] cache7; this "
        "entry is left out");
}
