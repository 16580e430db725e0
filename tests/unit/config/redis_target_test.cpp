// [[target]] kind = "redis": its keys, its errors, its rendering.
#include <doctest/doctest.h>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

TEST_CASE("redis target: address, user, password_file, timeout, interval, labels") {
  const Config config = parse_valid(R"(
[[target]]
name = "pg"
[[target]]
name = "cache"
kind = "redis"
address = "10.0.0.5:6380"
user = "monitor"
password_file = "/etc/pgvigil/redis.pass"
timeout = "2s"
interval = "10s"
labels = { env = "prod" }
[target.rules.RedisMemoryNearMax]
threshold = 0.8
)");
  REQUIRE(config.targets.size() == 1);
  CHECK(config.targets[0].name == "pg");
  REQUIRE(config.service_targets.size() == 1);
  const ServiceTargetConfig& redis = config.service_targets[0];
  CHECK(redis.name == "cache");
  CHECK(redis.host == "10.0.0.5");
  CHECK(redis.port == 6380);
  CHECK(redis.user == "monitor");
  CHECK(redis.password_file == "/etc/pgvigil/redis.pass");
  CHECK(redis.timeout == 2s);
  CHECK(redis.interval == 10s);
  CHECK(redis.labels.at("env") == "prod");
  CHECK(redis.rules.at("RedisMemoryNearMax").thresholds.at("threshold") == 0.8);
}

TEST_CASE("redis target: host and port, defaults, explicit postgres kind") {
  const Config config = parse_valid(R"(
[[target]]
name = "cache"
kind = "redis"
host = "localhost"
[[target]]
name = "pg"
kind = "postgres"
host = "db"
)");
  REQUIRE(config.service_targets.size() == 1);
  CHECK(config.service_targets[0].host == "localhost");
  CHECK(config.service_targets[0].port == 6379);
  CHECK(config.service_targets[0].timeout == 5s);
  CHECK(config.service_targets[0].interval == 5s);
  REQUIRE(config.targets.size() == 1);
  CHECK(config.targets[0].conn.at("host") == "db");
}

TEST_CASE("redis target: unknown and PostgreSQL-only keys are errors with file:line") {
  const LoadResult result = parse_config_text(R"([[target]]
name = "cache"
kind = "redis"
address = "127.0.0.1:6379"
dbname = "postgres"
sslmode = "require"
)",
                                              "redis.toml");
  REQUIRE_FALSE(result.config.has_value());
  const auto* dbname = find_error(result, "target[0].dbname");
  REQUIRE(dbname != nullptr);
  CHECK(dbname->line == 5);
  CHECK(contains(dbname->to_string(), "redis.toml:5:"));
  CHECK(find_error(result, "target[0].sslmode") != nullptr);
}

TEST_CASE("redis target: bad values are clear errors") {
  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "t.toml"));
  };
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\n"), "address"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:99999\"\n"),
                 "invalid address"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:1\"\n"
                           "host = \"x\"\n"),
                 "either address or host/port"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:1\"\n"
                           "tls = true\n"),
                 "tls is not supported"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:1\"\n"
                           "password = \"hunter2\"\n"),
                 "password_file only"));
  CHECK_FALSE(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:1\"\n"
                                 "password = \"hunter2\"\n"),
                       "hunter2"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"redis\"\naddress = \"h:1\"\n"
                           "user = \"u\"\n"),
                 "password_file"));
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\nkind = \"mongodb\"\n"), "kind"));
  // Names are unique across kinds.
  CHECK(contains(errors_of("[[target]]\nname = \"c\"\n[[target]]\nname = \"c\"\nkind = "
                           "\"redis\"\naddress = \"h:1\"\n"),
                 "duplicate target name"));
}

TEST_CASE("redis target: check-config renders it, password file path only") {
  const Config config = parse_valid(R"(
[[target]]
name = "cache"
kind = "redis"
address = "[::1]:6379"
user = "monitor"
password_file = "/run/secrets/redis"
)");
  const std::string text = render_effective_config(config);
  const bool kind_rendered = contains(text, "kind = 'redis'") || contains(text, "kind = \"redis\"");
  CHECK(kind_rendered);
  CHECK(contains(text, "[::1]:6379"));
  CHECK(contains(text, "/run/secrets/redis"));
  // The rendering parses back to the same target.
  const Config again = parse_valid(text);
  REQUIRE(again.service_targets.size() == 1);
  CHECK(again.service_targets[0] == config.service_targets[0]);
}

TEST_CASE(
    "redis target: kind has no place in a [[target_template]], and names are unique across kinds") {
  const LoadResult templated = parse_config_text(R"([[target_template]]
kind = "redis"
[[file_sd]]
files = ["targets/*.json"]
)",
                                                 "t.toml");
  REQUIRE_FALSE(templated.config.has_value());
  CHECK(contains(all_errors(templated), "kind cannot be set in a [[target_template]]"));

  const LoadResult clash = parse_config_text(R"([[target]]
name = "same"
[[target]]
name = "same"
kind = "redis"
address = "127.0.0.1:6379"
)",
                                             "t.toml");
  REQUIRE_FALSE(clash.config.has_value());
  CHECK(contains(all_errors(clash), "duplicate target name"));
}
