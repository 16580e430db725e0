#include <doctest/doctest.h>

#include <cstdlib>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

TEST_CASE("an empty target gets every default") {
  const Config config = parse_valid("[[target]]\nname = \"primary\"\n");
  const Config defaults;
  CHECK(config.source_path == "test.toml");
  CHECK(config.state_directory == defaults.state_directory);
  CHECK(config.server.listen == defaults.server.listen);
  CHECK(config.server.max_connections == defaults.server.max_connections);
  CHECK(config.server.max_request_bytes == defaults.server.max_request_bytes);
  CHECK(config.server.read_timeout == defaults.server.read_timeout);
  CHECK(config.server.idle_timeout == defaults.server.idle_timeout);
  CHECK(config.server.auth_exempt_health == defaults.server.auth_exempt_health);
  CHECK_FALSE(config.server.tls.has_value());
  CHECK(config.log.level == defaults.log.level);
  CHECK(config.log.format == defaults.log.format);
  CHECK(config.alerting.evaluation_interval == defaults.alerting.evaluation_interval);
  CHECK(config.alerting.resend_interval == defaults.alerting.resend_interval);
  CHECK(config.alerting.send_timeout == defaults.alerting.send_timeout);
  REQUIRE(config.targets.size() == 1);
  const TargetConfig& target = config.targets[0];
  const TargetConfig target_defaults;
  CHECK(target.name == "primary");
  CHECK(target.conn.empty());
  CHECK(target.rpo == target_defaults.rpo);
  CHECK_FALSE(target.expected_replicas.has_value());
  CHECK_FALSE(target.log.has_value());
  CHECK(target.probes.empty());
}

TEST_CASE("the minimal sample file loads") {
  const LoadResult result = load_config_file(PGVIGIL_TEST_DATA "/config/minimal.toml");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  CHECK(result.config->targets.at(0).name == "primary");
  CHECK(result.config->source_path == PGVIGIL_TEST_DATA "/config/minimal.toml");
}

TEST_CASE("every section is read into the model") {
  const Config config = parse_valid(R"(
state_directory = "/tmp/pgvigil-state"
[server]
listen = ["127.0.0.1:0", "[::1]:9816"]
max_connections = 8
max_request_size = "32KiB"
read_timeout = "2s"
idle_timeout = "1m"
auth_exempt_health = false
[server.tls]
cert_file = "/c.pem"
key_file = "/k.pem"
client_ca_file = "/ca.pem"
client_auth = "require_and_verify"
min_version = "TLS1.3"
[server.basic_auth.users]
alice = "$2y$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
[log]
level = "debug"
format = "json"
[alerting]
alertmanagers = ["http://am1:9093", "https://am2"]
evaluation_interval = "2s"
resend_interval = "5m"
send_timeout = "3s"
external_url = "https://pgvigil.example"
runbook_base_url = "https://wiki.example/pg/"
bearer_token_file = "/etc/pgvigil/token"
[[target]]
name = "db-1.prod:main"
conninfo = "host=db1 sslmode=require"
host = "10.0.0.1"
port = "5432,5433"
user = "monitor"
connect_timeout = 3
target_session_attrs = "read-write"
password_file = "/etc/pgvigil/db1.pass"
labels = { env = "prod", _team = "dba" }
expected_databases = ["app", "reports"]
expected_replicas = 2
rpo = "5m"
data_directory = "/srv/pg"
wal_directory = "/srv/wal"
extra_paths = ["/srv/ts1"]
patroni_url = "http://127.0.0.1:8008"
[[target.backup]]
glob = "/backups/*.dump"
max_age = "26h"
min_size = "1MB"
[[target.backup]]
glob = "/backups/wal/*"
[target.log]
path = "/var/log/pg/*.log"
max_bytes_per_round = "1MiB"
)");
  CHECK(config.state_directory == "/tmp/pgvigil-state");
  CHECK(config.server.listen == std::vector<std::string>{"127.0.0.1:0", "[::1]:9816"});
  CHECK(config.server.max_connections == 8);
  CHECK(config.server.max_request_bytes == 32 * 1024);
  CHECK(config.server.read_timeout == Duration{2s});
  CHECK(config.server.idle_timeout == Duration{1min});
  CHECK_FALSE(config.server.auth_exempt_health);
  REQUIRE(config.server.tls.has_value());
  CHECK(config.server.tls->client_auth == "require_and_verify");
  CHECK(config.server.tls->min_version == "TLS1.3");
  CHECK(config.server.basic_auth_users.count("alice") == 1);
  CHECK(config.log.level == "debug");
  CHECK(config.log.format == "json");
  CHECK(config.alerting.alertmanagers.size() == 2);
  CHECK(config.alerting.resend_interval == Duration{5min});
  CHECK(config.alerting.bearer_token_file == "/etc/pgvigil/token");
  CHECK(config.alerting.runbook_base_url == "https://wiki.example/pg/");
  const TargetConfig& target = config.targets.at(0);
  CHECK(target.name == "db-1.prod:main");
  CHECK(target.conninfo == "host=db1 sslmode=require");
  CHECK(target.conn.at("host") == "10.0.0.1");
  CHECK(target.conn.at("port") == "5432,5433");
  CHECK(target.conn.at("connect_timeout") == "3");
  CHECK(target.conn.at("target_session_attrs") == "read-write");
  CHECK(target.labels.at("_team") == "dba");
  CHECK(target.expected_databases == std::vector<std::string>{"app", "reports"});
  CHECK(target.expected_replicas == 2);
  CHECK(target.rpo == Duration{5min});
  CHECK(target.data_directory == "/srv/pg");
  CHECK(target.wal_directory == "/srv/wal");
  CHECK(target.patroni_url == "http://127.0.0.1:8008");
  REQUIRE(target.backups.size() == 2);
  CHECK(target.backups[0].max_age == Duration{26h});
  CHECK(target.backups[0].min_size_bytes == 1'000'000);
  CHECK(target.backups[1].max_age == BackupConfig{}.max_age);
  REQUIRE(target.log.has_value());
  CHECK(target.log->max_bytes_per_round == 1024 * 1024);
}

TEST_CASE("[probes.NAME] are defaults that a target's own settings override") {
  const Config config = parse_valid(R"(
[probes.vacuum]
top_n = 50
interval = "10m"
exclude_databases = ["template*"]
[[target]]
name = "a"
[target.probes.vacuum]
top_n = 5
[target.probes.logs]
enabled = false
[[target]]
name = "b"
)");
  CHECK(config.probes.at("vacuum").top_n == 50u);  // the global section stays as written
  const TargetConfig& a = config.targets.at(0);
  const TargetConfig& b = config.targets.at(1);
  CHECK(a.probes.at("vacuum").top_n == 5u);
  CHECK(a.probes.at("vacuum").interval == Duration{10min});
  CHECK(a.probes.at("vacuum").exclude_databases == std::vector<std::string>{"template*"});
  CHECK(a.probes.at("logs").enabled == false);
  CHECK(b.probes.at("vacuum").top_n == 50u);
  CHECK(b.probes.count("logs") == 0);
  CHECK_FALSE(b.probes.at("vacuum").enabled.has_value());
}

TEST_CASE("rule thresholds are converted to base units and merged per target") {
  const Config config = parse_valid(R"(
[alerting.rules.PostgresTooManyConnections]
for = "5m"
warning = "80%"
critical = 0.95
[alerting.rules.PostgresReplicationLag]
warning = "30s"
critical = "1h30m"
bytes = "10GB"
count = 42
[[target]]
name = "a"
[target.rules.PostgresReplicationLag]
enabled = false
warning = "1m"
)");
  const RuleOverride& connections = config.alerting.rules.at("PostgresTooManyConnections");
  CHECK(connections.for_duration == Duration{5min});
  CHECK(connections.thresholds.at("warning") == doctest::Approx(0.8));
  CHECK(connections.thresholds.at("critical") == doctest::Approx(0.95));
  const RuleOverride& lag = config.targets.at(0).rules.at("PostgresReplicationLag");
  CHECK(lag.enabled == false);
  CHECK(lag.thresholds.at("warning") == doctest::Approx(60));     // the target's own value
  CHECK(lag.thresholds.at("critical") == doctest::Approx(5400));  // inherited, in seconds
  CHECK(lag.thresholds.at("bytes") == doctest::Approx(1e10));
  CHECK(lag.thresholds.at("count") == doctest::Approx(42));
  CHECK(config.targets.at(0).rules.at("PostgresTooManyConnections").for_duration == Duration{5min});
}

TEST_CASE("checks: expect is parsed and defaults apply") {
  const Config config = parse_valid(R"(
[[target]]
name = "a"
[[target.check]]
name = "queue"
sql = "SELECT count(*) FROM jobs"
expect = " >= 3 "
[[target.check]]
name = "errors"
sql = "SELECT 1"
database = "app"
interval = "5m"
timeout = "2s"
expect = "!= 0"
for = "1m"
severity = "critical"
[[target]]
name = "b"
[[target.check]]
name = "queue"
sql = "SELECT 0"
expect = "== 0"
)");
  const auto& checks = config.targets.at(0).checks;
  REQUIRE(checks.size() == 2);
  const CheckConfig defaults;
  CHECK(checks[0].comparison == Comparison::greater_equal);
  CHECK(checks[0].threshold == doctest::Approx(3));
  CHECK(checks[0].expect == ">= 3");
  CHECK(checks[0].interval == defaults.interval);
  CHECK(checks[0].timeout == defaults.timeout);
  CHECK(checks[0].for_duration == defaults.for_duration);
  CHECK(checks[0].severity == defaults.severity);
  CHECK(checks[0].database.empty());
  CHECK(checks[1].comparison == Comparison::not_equal);
  CHECK(checks[1].database == "app");
  CHECK(checks[1].interval == Duration{5min});
  CHECK(checks[1].for_duration == Duration{1min});
  CHECK(checks[1].severity == "critical");
  // The same check name in another target is fine.
  CHECK(config.targets.at(1).checks.at(0).comparison == Comparison::equal);
}

TEST_CASE("checks: bad, missing and duplicate entries are errors") {
  const LoadResult result = parse_config_text(R"([[target]]
name = "a"
[[target.check]]
name = "q"
sql = "SELECT 1"
expect = "3"
[[target.check]]
name = "q"
expect = "> 1"
severity = "urgent"
[[target.check]]
sql = "SELECT 1"
)",
                                              "checks.toml");
  INFO(all_errors(result));
  CHECK_FALSE(result.config.has_value());
  const ConfigError* expect = find_error(result, "target[0].check[0].expect");
  REQUIRE(expect != nullptr);
  CHECK(expect->line == 6);
  CHECK(contains(expect->message, "\"3\""));
  const ConfigError* duplicate = find_error(result, "target[0].check[1].name");
  REQUIRE(duplicate != nullptr);
  CHECK(duplicate->line == 8);
  CHECK(contains(duplicate->message, "first defined at line 4"));
  CHECK(find_error(result, "target[0].check[1].sql") != nullptr);
  CHECK(find_error(result, "target[0].check[1].severity") != nullptr);
  const ConfigError* no_name = find_error(result, "target[0].check[2].name");
  REQUIRE(no_name != nullptr);
  CHECK(no_name->line == 11);  // the [[target.check]] header
  CHECK(find_error(result, "target[0].check[2].expect") != nullptr);
}

TEST_CASE("unknown probe and rule names are errors with a suggestion") {
  const LoadResult result = parse_config_text(R"([probes.vacum]
top_n = 1
[alerting.rules.PostgresDwn]
for = "1m"
[[target]]
name = "a"
[target.probes.bogus]
enabled = true
[target.rules.NoSuchRule]
enabled = false
)",
                                              "names.toml");
  INFO(all_errors(result));
  const ConfigError* probe = find_error(result, "probes.vacum");
  REQUIRE(probe != nullptr);
  CHECK(contains(probe->message, "did you mean \"vacuum\""));
  const ConfigError* rule = find_error(result, "alerting.rules.PostgresDwn");
  REQUIRE(rule != nullptr);
  CHECK(contains(rule->message, "did you mean \"PostgresDown\""));
  CHECK(find_error(result, "target[0].probes.bogus") != nullptr);
  CHECK(find_error(result, "target[0].rules.NoSuchRule") != nullptr);
}

TEST_CASE("every probe of the catalogue and every rule of the table is a valid name") {
  const auto names = pgvigil::alerts::config_vocabulary();
  REQUIRE(names.probes.size() >= 17);
  REQUIRE(names.rules.size() >= 32);
  std::string text = "[[target]]\nname = \"a\"\n";
  for (const auto probe : names.probes) {
    text += "[target.probes." + std::string(probe) + "]\nenabled = true\n";
  }
  for (const auto rule : names.rules)
    text += "[target.rules." + std::string(rule) + "]\nfor = \"1s\"\n";
  const Config config = parse_valid(text);
  CHECK(config.targets.at(0).probes.size() == names.probes.size());
  CHECK(config.targets.at(0).rules.size() == names.rules.size());

  // A name outside the vocabulary handed in is refused, whatever the daemon knows.
  const Vocabulary few{{"activity"}, {"PostgresDown"}, {}};
  const auto narrow = pgvigil::config::parse_config_text(
      "[probes.vacuum]\nenabled = false\n[alerting.rules.PostgresDeadlocks]\nfor = \"1s\"\n",
      "narrow.toml", few);
  CHECK(find_error(narrow, "probes.vacuum") != nullptr);
  CHECK(find_error(narrow, "alerting.rules.PostgresDeadlocks") != nullptr);
}

TEST_CASE("label names follow Prometheus rules") {
  const LoadResult result = parse_config_text(R"([[target]]
name = "a"
[target.labels]
ok_label = "1"
target = "x"
__reserved = "x"
1abc = "x"
"a-b" = "x"
number = 5
)",
                                              "labels.toml");
  INFO(all_errors(result));
  CHECK(find_error(result, "target[0].labels.target") != nullptr);
  CHECK(find_error(result, "target[0].labels.__reserved") != nullptr);
  CHECK(find_error(result, "target[0].labels.1abc") != nullptr);
  CHECK(find_error(result, "target[0].labels.a-b") != nullptr);
  CHECK(find_error(result, "target[0].labels.number") != nullptr);
  CHECK(find_error(result, "target[0].labels.ok_label") == nullptr);
  CHECK(result.errors.size() == 5);
}

TEST_CASE("out-of-range values are errors") {
  struct Case {
    const char* text;
    const char* key;
  };
  for (const Case& c : {
           Case{"[server]\nmax_connections = 0", "server.max_connections"},
           Case{"[server]\nlisten = [\"0.0.0.0:65536\"]", "server.listen[0]"},
           Case{"[server]\nlisten = [\"::1:9816\"]", "server.listen[0]"},
           Case{"[server]\nlisten = [\"localhost\"]", "server.listen[0]"},
           Case{"[server]\nlisten = [\":9816\"]", "server.listen[0]"},
           Case{"[server]\nlisten = []", "server.listen"},
           Case{"[server]\nread_timeout = \"0s\"", "server.read_timeout"},
           Case{"[server]\nmax_request_size = 0", "server.max_request_size"},
           Case{"[server]\nmax_request_size = -1", "server.max_request_size"},
           Case{"[probes.activity]\ninterval = \"0ms\"", "probes.activity.interval"},
           Case{"[probes.vacuum]\ntop_n = 0", "probes.vacuum.top_n"},
           Case{"[alerting]\nsend_timeout = \"0s\"", "alerting.send_timeout"},
           Case{"[alerting]\nalertmanagers = [\"am:9093\"]", "alerting.alertmanagers[0]"},
           Case{"[log]\nlevel = \"verbose\"", "log.level"},
           Case{"[[target]]\nname = \"a\"\nport = 0", "target[0].port"},
           Case{"[[target]]\nname = \"a\"\nport = 65536", "target[0].port"},
           Case{"[[target]]\nname = \"a\"\nport = \"54x\"", "target[0].port"},
           Case{"[[target]]\nname = \"a\"\nport = \"5432,\"", "target[0].port"},
           Case{"[[target]]\nname = \"a\"\nsslmode = \"on\"", "target[0].sslmode"},
           Case{"[[target]]\nname = \"a\"\nexpected_replicas = -1", "target[0].expected_replicas"},
           Case{"[[target]]\nname = \"a\"\nrpo = \"0s\"", "target[0].rpo"},
           Case{"[[target]]\nname = \"a b\"", "target[0].name"},
           Case{"[[target]]\nname = \"\"", "target[0].name"},
           Case{"[[target]]\nname = \"a\"\npatroni_url = \"127.0.0.1:8008\"",
                "target[0].patroni_url"},
       }) {
    CAPTURE(c.text);
    const LoadResult result = parse_config_text(c.text, "range.toml");
    INFO(all_errors(result));
    CHECK_FALSE(result.config.has_value());
    CHECK(find_error(result, c.key) != nullptr);
  }
}

TEST_CASE("listen port 0 is allowed for tests and IPv6 needs brackets") {
  const Config config = parse_valid("[server]\nlisten = [\"127.0.0.1:0\", \"[::]:65535\"]\n");
  CHECK(config.server.listen.size() == 2);
}

TEST_CASE("application_name cannot be configured") {
  for (const char* text : {
           "[[target]]\nname = \"a\"\napplication_name = \"x\"",
           "[[target]]\nname = \"a\"\nconninfo = \"host=h application_name=x\"",
           "[[target]]\nname = \"a\"\nconninfo = \"postgresql://h/db?application_name=x\"",
       }) {
    CAPTURE(text);
    const LoadResult result = parse_config_text(text, "app.toml");
    CHECK_FALSE(result.config.has_value());
    REQUIRE(result.errors.size() == 1);
    CHECK(contains(result.errors[0].message, "application_name"));
  }
}

TEST_CASE("structural mistakes are reported, not crashed on") {
  struct Case {
    const char* text;
    const char* key;
    const char* message_part;
  };
  for (const Case& c : {
           Case{"[target]\nname = \"a\"", "target", "[[target]]"},
           Case{"[[target]]\nhost = \"h\"", "target[0].name", "missing"},
           Case{"server = 1", "server", "expected a table"},
           Case{"[server.tls]\ncert_file = \"/c\"", "server.tls.key_file", "missing"},
           Case{"[server.tls]\ncert_file = \"/c\"\nkey_file = \"/k\"\nclient_auth = "
                "\"require_and_verify\"",
                "server.tls", "client_ca_file"},
           Case{"[alerting]\nbasic_auth_user = \"u\"", "alerting", "together"},
           Case{"[[target]]\nname = \"a\"\n[[target.backup]]\nmax_age = \"1h\"",
                "target[0].backup[0].glob", "missing"},
           Case{"[[target]]\nname = \"a\"\n[target.log]\nmax_bytes_per_round = \"1MB\"",
                "target[0].log.path", "missing"},
           Case{"[[target]]\nname = \"a\"\nexpected_databases = [\"x\", 1]",
                "target[0].expected_databases[1]", "expected a string"},
           Case{"[[target]]\nname = \"a\"\nconninfo = \"host\"", "target[0].conninfo",
                "cannot parse"},
           Case{"[alerting.rules.PostgresDown]\nwarning = true",
                "alerting.rules.PostgresDown.warning", "threshold"},
           Case{"[alerting.rules.PostgresDown]\nwarning = \"lots\"",
                "alerting.rules.PostgresDown.warning", "invalid threshold"},
           Case{"[alerting.rules.PostgresDown]\nwarning = nan",
                "alerting.rules.PostgresDown.warning", "finite"},
           Case{"[server]\n\"odd key\" = 1", "server.\"odd key\"", "unknown key"},
       }) {
    CAPTURE(c.text);
    const LoadResult result = parse_config_text(c.text, "structure.toml");
    INFO(all_errors(result));
    CHECK_FALSE(result.config.has_value());
    const ConfigError* error = find_error(result, c.key);
    REQUIRE(error != nullptr);
    CHECK(contains(error->message, c.message_part));
  }
}

TEST_CASE("several errors are all reported, in file order") {
  const LoadResult result = load_config_file(PGVIGIL_TEST_DATA "/config/many_errors.toml");
  INFO(all_errors(result));
  CHECK_FALSE(result.config.has_value());
  CHECK(find_error(result, "server.max_connections") != nullptr);
  CHECK(find_error(result, "server.read_timeout") != nullptr);
  CHECK(find_error(result, "probes.vacum") != nullptr);
  CHECK(find_error(result, "target[0].name") != nullptr);
  CHECK(find_error(result, "target[0].port") != nullptr);
  CHECK(find_error(result, "target[0].labels.target") != nullptr);
  CHECK(find_error(result, "alerting.rules.PostgresDown.for") != nullptr);
  CHECK(result.errors.size() == 7);
  for (std::size_t i = 1; i < result.errors.size(); ++i) {
    CHECK(result.errors[i - 1].line <= result.errors[i].line);
  }
}

TEST_CASE("environment variables are never expanded") {
  REQUIRE(std::getenv("HOME") != nullptr);
  const Config config = parse_valid(R"(
state_directory = "$HOME/pgvigil"
[[target]]
name = "a"
host = "${PGHOST}"
password_file = "$HOME/.pgpass"
)");
  CHECK(config.state_directory == "$HOME/pgvigil");
  CHECK(config.targets.at(0).conn.at("host") == "${PGHOST}");
  CHECK(config.targets.at(0).password_file == "$HOME/.pgpass");
  // A duration cannot be smuggled in through a variable either.
  const LoadResult result =
      parse_config_text("[server]\nread_timeout = \"$TIMEOUT\"\n", "env.toml");
  CHECK(find_error(result, "server.read_timeout") != nullptr);
}

TEST_CASE("a plaintext password is accepted with a warning, not both password sources") {
  const LoadResult result =
      parse_config_text("[[target]]\nname = \"a\"\npassword = \"hunter2\"\n", "pw.toml");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  CHECK(result.config->targets.at(0).conn.at("password") == "hunter2");
  REQUIRE(result.warnings.size() == 1);
  CHECK(contains(result.warnings[0], "pw.toml:3:1: target[0].password:"));
  CHECK(contains(result.warnings[0], "password_file"));
  CHECK_FALSE(contains(result.warnings[0], "hunter2"));

  const LoadResult both = parse_config_text(
      "[[target]]\nname = \"a\"\npassword = \"hunter2\"\npassword_file = \"/p\"\n", "pw.toml");
  CHECK_FALSE(both.config.has_value());
  CHECK(find_error(both, "target[0].password") != nullptr);
  CHECK_FALSE(contains(all_errors(both), "hunter2"));
}

TEST_CASE("a password inside conninfo draws a warning without the password") {
  const LoadResult result = parse_config_text(
      "[[target]]\nname = \"a\"\nconninfo = \"host=h password='s3 cret'\"\n", "ci.toml");
  REQUIRE(result.config.has_value());
  REQUIRE(result.warnings.size() == 1);
  CHECK(contains(result.warnings[0], "target[0].conninfo"));
  CHECK_FALSE(contains(result.warnings[0], "s3 cret"));
}

TEST_CASE("basic-auth users must be bcrypt hashes and plaintext is never echoed") {
  const LoadResult result =
      parse_config_text("[server.basic_auth.users]\nalice = \"opensesame\"\n", "ba.toml");
  CHECK_FALSE(result.config.has_value());
  const ConfigError* error = find_error(result, "server.basic_auth.users.alice");
  REQUIRE(error != nullptr);
  CHECK(contains(error->message, "bcrypt"));
  CHECK_FALSE(contains(all_errors(result), "opensesame"));
}

TEST_CASE("TOML syntax errors carry toml++'s position") {
  const LoadResult result = load_config_file(PGVIGIL_TEST_DATA "/config/syntax_error.toml");
  REQUIRE(result.errors.size() == 1);
  const ConfigError& error = result.errors[0];
  CHECK(error.file == PGVIGIL_TEST_DATA "/config/syntax_error.toml");
  CHECK(error.line == 3);
  CHECK(error.column > 1);
  CHECK(error.key.empty());
  CHECK(contains(error.message, "TOML syntax error"));
  CHECK(contains(error.to_string(), "syntax_error.toml:3:"));

  const LoadResult duplicate = parse_config_text("a = 1\na = 2\n", "dup.toml");
  REQUIRE(duplicate.errors.size() == 1);
  CHECK(duplicate.errors[0].line == 2);
}

TEST_CASE("truncated and mangled configs never crash") {
  const LoadResult example = load_config_file(PGVIGIL_SOURCE_DIR "/config/pgvigil.example.toml");
  REQUIRE(example.config.has_value());
  std::string text;
  {
    std::FILE* file = std::fopen(PGVIGIL_SOURCE_DIR "/config/pgvigil.example.toml", "rb");
    REQUIRE(file != nullptr);
    char buffer[4096];
    std::size_t count = 0;
    while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, count);
    std::fclose(file);
  }
  std::size_t parsed = 0;
  for (std::size_t cut = 0; cut < text.size(); cut += 7) {
    const LoadResult truncated =
        parse_config_text(std::string_view(text).substr(0, cut), "cut.toml");
    CHECK((truncated.config.has_value() || !truncated.errors.empty()));
    std::string mangled = text;
    mangled[cut] = static_cast<char>(mangled[cut] ^ 0x5a);
    const LoadResult flipped = parse_config_text(mangled, "flip.toml");
    CHECK((flipped.config.has_value() || !flipped.errors.empty()));
    for (const auto& error : flipped.errors) CHECK(error.file == "flip.toml");
    ++parsed;
  }
  CHECK(parsed > 100);
}

TEST_CASE("empty arrays of tables are accepted, mixed arrays are not") {
  const Config config = parse_valid("target = []\n");
  CHECK(config.targets.empty());
  const LoadResult mixed = parse_config_text("target = [{ name = \"a\" }, 1]\n", "mixed.toml");
  CHECK(find_error(mixed, "target") != nullptr);
  const Config inline_tables = parse_valid("target = [{ name = \"a\" }, { name = \"b\" }]\n");
  CHECK(inline_tables.targets.size() == 2);
}
