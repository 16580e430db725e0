#include <doctest/doctest.h>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;

TEST_CASE("redact_conninfo masks keyword/value passwords and keeps the rest") {
  struct Case {
    const char* conninfo;
    const char* secret;
    const char* kept;
  };
  for (const Case& c : {
           Case{"host=db password=s3cret user=mon", "s3cret", "user=mon"},
           Case{"password='my secret pass' host=db", "secret pass", "host=db"},
           Case{"host=db password = 'spaced out' port=5432", "spaced out", "port=5432"},
           Case{R"(password='it\'s hidden' dbname=app)", "hidden", "dbname=app"},
           Case{R"(password=back\ slash dbname=app)", "slash", "dbname=app"},
           Case{"host=db PASSWORD=upper", "upper", "host=db"},
           Case{"host=db password=''", "''", "host=db"},
       }) {
    CAPTURE(c.conninfo);
    const std::string redacted = redact_conninfo(c.conninfo);
    CAPTURE(redacted);
    CHECK_FALSE(contains(redacted, c.secret));
    CHECK(contains(redacted, c.kept));
    CHECK(contains(redacted, "<redacted>"));
  }
}

TEST_CASE("redact_conninfo masks URI passwords") {
  struct Case {
    const char* conninfo;
    const char* secret;
    const char* kept;
  };
  for (const Case& c : {
           Case{"postgresql://mon:hunter2@db.example:5432/app?sslmode=require", "hunter2",
                "mon:<redacted>@db.example:5432/app?sslmode=require"},
           Case{"postgres://db/app?sslmode=require&password=hunter2", "hunter2", "sslmode=require"},
           Case{"postgresql://mon:p@ss/w0rd@host/db", "ss/w0rd", "@host/db"},
           Case{"POSTGRESQL://mon:Secr%20et@host", "Secr%20et", "mon:"},
           Case{"postgresql://mon:pw@h1:5432,h2:5433/app?password=two&connect_timeout=3", "two",
                "connect_timeout=3"},
       }) {
    CAPTURE(c.conninfo);
    const std::string redacted = redact_conninfo(c.conninfo);
    CAPTURE(redacted);
    CHECK_FALSE(contains(redacted, c.secret));
    CHECK(contains(redacted, c.kept));
  }
  CHECK_FALSE(
      contains(redact_conninfo("postgresql://mon:pw@h1:5432,h2:5433/app?password=two"), ":pw@"));
}

TEST_CASE("redact_conninfo leaves password-free conninfo alone") {
  for (const char* conninfo :
       {"", "host=db port=5432 passfile=/etc/pass", "postgresql://mon@db/app?sslmode=verify-full",
        "postgresql://db:5432/app"}) {
    CAPTURE(conninfo);
    CHECK(redact_conninfo(conninfo) == conninfo);
  }
}

TEST_CASE("redact_conninfo hides everything after an unparsable part") {
  const std::string unterminated = redact_conninfo("host=db password='never closed");
  CHECK_FALSE(contains(unterminated, "never"));
  CHECK(contains(unterminated, "host=db"));
  const std::string junk = redact_conninfo("host=db garbage password=hunter2");
  CHECK_FALSE(contains(junk, "hunter2"));
}

TEST_CASE("render_effective_config never contains a secret in any form") {
  const std::string bcrypt = "$2y$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
  const LoadResult result = parse_config_text(R"(
[server.basic_auth.users]
alice = ")" + bcrypt + R"("
[[target]]
name = "keyword"
password = "pw-keyword"
[[target]]
name = "conninfo"
conninfo = "host=db password='pw conninfo' user=mon"
[[target]]
name = "uri"
conninfo = "postgresql://mon:pw-uri@db/app?password=pw-query"
patroni_url = "http://watcher:pw-patroni@10.0.0.1:8008"
)",
                                              "secrets.toml");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  const std::string rendered = render_effective_config(*result.config);
  CAPTURE(rendered);
  for (const std::string& secret :
       {std::string("pw-keyword"), std::string("pw conninfo"), std::string("pw-uri"),
        std::string("pw-query"), std::string("pw-patroni"), bcrypt, bcrypt.substr(7)}) {
    CHECK_FALSE(contains(rendered, secret));
  }
  CHECK(contains(rendered, "<redacted>"));
  CHECK(contains(rendered, "user=mon"));
  CHECK(contains(rendered, "http://watcher:<redacted>@10.0.0.1:8008"));
  for (const auto& warning : result.warnings) {
    CHECK_FALSE(contains(warning, "pw-"));
    CHECK_FALSE(contains(warning, "pw conninfo"));
  }
}

TEST_CASE("the rendered config shows defaults and parses back to the same config") {
  const Config config = parse_valid(R"(
[probes.vacuum]
top_n = 7
[alerting.rules.PostgresDiskSpaceLow]
warning = "10%"
[[target]]
name = "a"
host = "127.0.0.1"
port = 5432
labels = { env = "test" }
[[target.check]]
name = "c"
sql = "SELECT 1"
expect = ">= 1"
[[target.backup]]
glob = "/b/*"
[target.log]
path = "/l"
)");
  const std::string rendered = render_effective_config(config);
  CAPTURE(rendered);
  // Defaults the file never mentioned are spelled out.
  CHECK(contains(rendered, "read_timeout = '" + format_duration(ServerConfig{}.read_timeout)));
  CHECK(contains(rendered, "rpo = '" + format_duration(TargetConfig{}.rpo)));
  CHECK(contains(rendered,
                 "max_bytes_per_round = '" + format_size(LogScanConfig{}.max_bytes_per_round)));
  const Config reparsed = parse_valid(rendered);
  CHECK(render_effective_config(reparsed) == rendered);
  CHECK(reparsed.targets.at(0).probes.at("vacuum").top_n == 7u);
  CHECK(reparsed.targets.at(0).rules.at("PostgresDiskSpaceLow").thresholds.at("warning") ==
        doctest::Approx(0.1));
  CHECK(reparsed.targets.at(0).checks.at(0).comparison == Comparison::greater_equal);
}

TEST_CASE("rendered thresholds keep their exact value") {
  for (const char* threshold : {"0.8", "12345678901", "0.123456789", "\"10GB\"", "\"1h30m\""}) {
    CAPTURE(threshold);
    const Config config =
        parse_valid(std::string("[alerting.rules.PostgresDiskWillFill]\nwarning = ") + threshold +
                    "\n[[target]]\nname = \"a\"\n");
    const Config reparsed = parse_valid(render_effective_config(config));
    CHECK(reparsed.alerting.rules.at("PostgresDiskWillFill").thresholds.at("warning") ==
          config.alerting.rules.at("PostgresDiskWillFill").thresholds.at("warning"));
  }
  const Config simple = parse_valid("[alerting.rules.PostgresDeadTuples]\nwarning = \"80%\"\n");
  CHECK(contains(render_effective_config(simple), "warning = 0.8\n"));
}
