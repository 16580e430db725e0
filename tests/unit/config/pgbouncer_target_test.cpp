// [[target]] kind = "pgbouncer": its keys, its defaults, its errors, its rendering.
#include <doctest/doctest.h>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

TEST_CASE("pgbouncer target: address, user, password_file, database, timeout, interval, rules") {
  const Config config = parse_valid(R"(
[[target]]
name = "bouncer"
kind = "pgbouncer"
address = "10.0.0.7:6433"
user = "pgvigil"
password_file = "/etc/pgvigil/pgbouncer.pass"
database = "pgbouncer_admin"
tls = true
timeout = "2s"
interval = "10s"
labels = { env = "prod" }
[target.rules.PgbouncerClientsWaiting]
threshold = 2
for = "30s"
)");
  CHECK(config.targets.empty());
  REQUIRE(config.service_targets.size() == 1);
  const ServiceTargetConfig& target = config.service_targets[0];
  CHECK(target.kind == ServiceKind::pgbouncer);
  CHECK(target.name == "bouncer");
  CHECK(target.host == "10.0.0.7");
  CHECK(target.port == 6433);
  CHECK(target.user == "pgvigil");
  CHECK(target.password_file == "/etc/pgvigil/pgbouncer.pass");
  CHECK(target.database == "pgbouncer_admin");
  CHECK(target.tls);
  CHECK(target.timeout == 2s);
  CHECK(target.interval == 10s);
  CHECK(target.labels.at("env") == "prod");
  CHECK(target.rules.at("PgbouncerClientsWaiting").thresholds.at("threshold") == 2);
  CHECK(target.rules.at("PgbouncerClientsWaiting").for_duration == 30s);
}

TEST_CASE("pgbouncer target: defaults are port 6432 and the admin database pgbouncer") {
  const Config config = parse_valid(R"(
[[target]]
name = "bouncer"
kind = "pgbouncer"
host = "localhost"
user = "stats"
)");
  REQUIRE(config.service_targets.size() == 1);
  const auto& target = config.service_targets[0];
  CHECK(target.port == 6432);
  CHECK(target.database == "pgbouncer");
  CHECK_FALSE(target.tls);
  CHECK(target.timeout == 5s);
  CHECK(target.interval == 5s);
  CHECK(target.password_file.empty());
}

TEST_CASE("pgbouncer target: PostgreSQL-only and unknown keys are errors with file:line") {
  const LoadResult result = parse_config_text(R"([[target]]
name = "bouncer"
kind = "pgbouncer"
address = "127.0.0.1:6432"
user = "pgvigil"
dbname = "pgbouncer"
conninfo = "host=x"
)",
                                              "bouncer.toml");
  REQUIRE_FALSE(result.config.has_value());
  const auto* dbname = find_error(result, "target[0].dbname");
  REQUIRE(dbname != nullptr);
  CHECK(dbname->line == 6);
  CHECK(contains(dbname->to_string(), "bouncer.toml:6:"));
  const auto* conninfo = find_error(result, "target[0].conninfo");
  REQUIRE(conninfo != nullptr);
  CHECK(conninfo->line == 7);
}

TEST_CASE("pgbouncer target: bad values are clear errors") {
  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "t.toml"));
  };
  const std::string head = "[[target]]\nname = \"b\"\nkind = \"pgbouncer\"\n";
  CHECK(contains(errors_of(head + "user = \"u\"\n"), "address"));
  CHECK(contains(errors_of(head + "address = \"h:1\"\n"), "user"));
  CHECK(contains(errors_of(head + "user = \"u\"\naddress = \"h:0\"\n"), "invalid address"));
  CHECK(contains(errors_of(head + "user = \"u\"\naddress = \"h:1\"\ndatabase = \"\"\n"),
                 "target[0].database: must not be empty"));
  CHECK(contains(errors_of(head + "user = \"u\"\naddress = \"h:1\"\ntls = \"yes\"\n"), "tls"));
  CHECK(contains(errors_of(head + "user = \"u\"\naddress = \"h:1\"\ntimeout = \"soon\"\n"),
                 "timeout"));
  const auto inline_password =
      errors_of(head + "user = \"u\"\naddress = \"h:1\"\npassword = \"hunter2\"\n");
  CHECK(contains(inline_password, "password_file only"));
  CHECK_FALSE(contains(inline_password, "hunter2"));
  CHECK(contains(
      errors_of(head + "user = \"u\"\naddress = \"h:1\"\n[target.rules.PgbouncerNoSuchRule]\n"),
      "PgbouncerNoSuchRule"));
  const auto located = parse_config_text(
      head + "user = \"u\"\naddress = \"h:1\"\ninterval = \"never\"\n", "located.toml");
  CHECK(contains(all_errors(located), "located.toml:6:"));
}

TEST_CASE("pgbouncer target: check-config renders it and it parses back the same") {
  const Config config = parse_valid(R"(
[[target]]
name = "bouncer"
kind = "pgbouncer"
address = "127.0.0.1:6432"
user = "pgvigil"
password_file = "/run/secrets/pgbouncer"
)");
  const std::string text = render_effective_config(config);
  CHECK((contains(text, "kind = 'pgbouncer'") || contains(text, "kind = \"pgbouncer\"")));
  CHECK(contains(text, "/run/secrets/pgbouncer"));
  const Config again = parse_valid(text);
  REQUIRE(again.service_targets.size() == 1);
  CHECK(again.service_targets[0] == config.service_targets[0]);
}
