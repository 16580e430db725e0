// [[target]] kind = "neo4j": its keys, its errors, its rendering.
#include <doctest/doctest.h>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

TEST_CASE("neo4j target: address, tls, database, user, password_file, timeout, labels") {
  const Config config = parse_valid(R"(
[[target]]
name = "graph"
kind = "neo4j"
address = "graph.internal:7473"
tls = true
database = "movies"
user = "monitor"
password_file = "/etc/pgvigil/neo4j.pass"
timeout = "2s"
interval = "10s"
labels = { cluster = "intelgraph" }
[target.rules.Neo4jDown]
for = "1m"
)");
  REQUIRE(config.service_targets.size() == 1);
  const ServiceTargetConfig& neo4j = config.service_targets[0];
  CHECK(neo4j.kind == ServiceKind::neo4j);
  CHECK(neo4j.name == "graph");
  CHECK(neo4j.host == "graph.internal");
  CHECK(neo4j.port == 7473);
  CHECK(neo4j.tls);
  CHECK(neo4j.database == "movies");
  CHECK(neo4j.user == "monitor");
  CHECK(neo4j.password_file == "/etc/pgvigil/neo4j.pass");
  CHECK(neo4j.timeout == 2s);
  CHECK(neo4j.interval == 10s);
  CHECK(neo4j.labels.at("cluster") == "intelgraph");
  CHECK(neo4j.rules.contains("Neo4jDown"));
}

TEST_CASE("neo4j target: defaults are port 7474, database neo4j, plain http, no auth") {
  const Config config = parse_valid(R"(
[[target]]
name = "graph"
kind = "neo4j"
host = "localhost"
)");
  REQUIRE(config.service_targets.size() == 1);
  const auto& neo4j = config.service_targets[0];
  CHECK(neo4j.port == 7474);
  CHECK(neo4j.database == "neo4j");
  CHECK_FALSE(neo4j.tls);
  CHECK(neo4j.user.empty());
  CHECK(neo4j.timeout == 5s);
  CHECK(neo4j.interval == 5s);
}

TEST_CASE("neo4j target: PostgreSQL-only and unknown keys are errors with file:line") {
  const LoadResult result = parse_config_text(R"([[target]]
name = "graph"
kind = "neo4j"
address = "127.0.0.1:7474"
dbname = "neo4j"
bolt = true
)",
                                              "neo4j.toml");
  REQUIRE_FALSE(result.config.has_value());
  const auto* dbname = find_error(result, "target[0].dbname");
  REQUIRE(dbname != nullptr);
  CHECK(dbname->line == 5);
  CHECK(contains(dbname->to_string(), "neo4j.toml:5:"));
  const auto* bolt = find_error(result, "target[0].bolt");
  REQUIRE(bolt != nullptr);
  CHECK(bolt->line == 6);
}

TEST_CASE("neo4j target: bad values are clear errors") {
  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "t.toml"));
  };
  const std::string head = "[[target]]\nname = \"g\"\nkind = \"neo4j\"\n";
  CHECK(contains(errors_of(head), "address"));
  CHECK(contains(errors_of(head + "address = \"h:0\"\n"), "invalid address"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\ntls = \"yes\"\n"), "tls"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\ndatabase = \"\"\n"), "must not be empty"));
  // The database name goes into URL paths: nothing that would change the path.
  CHECK(contains(errors_of(head + "address = \"h:1\"\ndatabase = \"../dbms\"\n"),
                 "invalid Neo4j database name"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\ndatabase = \"a b\"\n"),
                 "invalid Neo4j database name"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\npassword = \"hunter2\"\n"),
                 "password_file only"));
  CHECK_FALSE(contains(errors_of(head + "address = \"h:1\"\npassword = \"hunter2\"\n"), "hunter2"));
  // Basic auth needs both halves.
  CHECK(contains(errors_of(head + "address = \"h:1\"\nuser = \"neo4j\"\n"), "both user and"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\npassword_file = \"/p\"\n"), "both user and"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\ntimeout = \"soon\"\n"), "timeout"));
}

TEST_CASE("neo4j target: check-config renders it and it parses back the same") {
  const Config config = parse_valid(R"(
[[target]]
name = "graph"
kind = "neo4j"
address = "[::1]:7473"
tls = true
database = "movies"
user = "monitor"
password_file = "/run/secrets/neo4j"
)");
  const std::string text = render_effective_config(config);
  const bool kind_rendered = contains(text, "kind = 'neo4j'") || contains(text, "kind = \"neo4j\"");
  CHECK(kind_rendered);
  CHECK(contains(text, "[::1]:7473"));
  CHECK(contains(text, "/run/secrets/neo4j"));
  const Config again = parse_valid(text);
  REQUIRE(again.service_targets.size() == 1);
  CHECK(again.service_targets[0] == config.service_targets[0]);
}
