// Issue 20's config findings: text toml++ must not see, URLs read by the HTTP
// client's own parser, and library messages that quote a conninfo.
#include <doctest/doctest.h>

#include "config/http_url.hpp"
#include "config/redaction.hpp"
#include "config/toml_text_check.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;

TEST_CASE("toml text check: non-ASCII outside strings and comments never reaches toml++") {
  // U+FEF6 as a whole file: toml++ 3.3.0 reaches __builtin_unreachable on it.
  const auto alone = check_toml_text("\xEF\xBB\xB6");
  REQUIRE(alone);
  CHECK(alone->line == 1);
  CHECK(alone->column == 1);
  CHECK(contains(alone->message, "non-ASCII"));
  // Where whitespace is expected, after a key, and on a later line.
  const auto after_key = check_toml_text("a = 1\nname\xC2\xA0= \"x\"\n");
  REQUIRE(after_key);
  CHECK(after_key->line == 2);
  CHECK(after_key->column == 5);
  CHECK(check_toml_text("key = \xE2\x80\x83 1\n"));  // an em space
  // Bytes that are not UTF-8 at all, even inside a string.
  const auto broken = check_toml_text("name = \"caf\xC3\"\n");
  REQUIRE(broken);
  CHECK(contains(broken->message, "UTF-8"));
  CHECK(check_toml_text("name = \"\xED\xA0\x80\"\n"));      // a surrogate
  CHECK(check_toml_text("name = \"\xC0\xAF\"\n"));          // overlong
  CHECK(check_toml_text("name = \"\xF4\x90\x80\x80\"\n"));  // above U+10FFFF

  // Allowed: strings of every kind, comments, a byte order mark.
  for (const char* fine : {
           "\xEF\xBB\xBFname = \"caf\xC3\xA9\"\n",
           "# caf\xC3\xA9 \xEF\xBB\xB6\nname = 'x'\n",
           "name = 'caf\xC3\xA9'  # \xE2\x9C\x93\n",
           "text = \"\"\"\nline \xC3\xA9 \"quoted\" \\\"\"\"\nstill\"\"\"\nk = 1\n",
           "text = '''\n\xC3\xA9 ''\n'''\nk = 1\n",
           "text = \"\"\"a\"\"\"\"\"\nk = \"\xC3\xA9\"\n",
           "\"quoted \xC3\xA9 key\" = 1\n",
           "escaped = \"a\\\"\xC3\xA9\"\n",
       }) {
    CAPTURE(fine);
    CHECK_FALSE(check_toml_text(fine));
  }
  // After a string closes, the rest of the line is code again.
  CHECK(check_toml_text("a = \"x\" \xC2\xA0\n"));
  CHECK(check_toml_text("a = '''x''' \xC2\xA0\n"));
}

TEST_CASE("toml text check: the config loader reports it as a syntax error with its position") {
  const auto result = parse_config_text("\xEF\xBB\xB6", "odd.toml");
  CHECK_FALSE(result.config);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        "odd.toml:1:1: TOML syntax error: a non-ASCII character outside a string or comment");
  // Non-ASCII where TOML allows it still loads.
  const auto fine = parse_config_text(
      "# d\xC3\xA9j\xC3\xA0 vu\n[[target]]\nname = \"a\"\nlabels = { team = \"caf\xC3\xA9\" }\n",
      "fine.toml");
  CHECK(fine.config);
}

TEST_CASE("URLs: the config check and the HTTP client read them alike") {
  // Credentials are refused where a URL is shown (Alertmanager, pages).
  const auto with_password =
      parse_config_text("[alerting]\nalertmanagers = [\"http://u:Secret1@am:9093\"]\n", "a.toml");
  CHECK_FALSE(with_password.config);
  const std::string errors = all_errors(with_password);
  CHECK(contains(errors, "alerting.alertmanagers[0]"));
  CHECK(contains(errors, "credentials"));
  CHECK_FALSE(contains(errors, "Secret1"));
  for (const char* key : {"external_url", "runbook_base_url"}) {
    const auto shown =
        parse_config_text(std::string("[alerting]\n") + key + " = \"https://u:Secret2@x/\"\n", "b");
    CHECK_FALSE(shown.config);
    CHECK_FALSE(contains(all_errors(shown), "Secret2"));
  }
  // The scheme is case-insensitive in both places.
  const auto upper = parse_config_text("[alerting]\nalertmanagers = [\"HTTP://am:9093\"]\n", "c");
  CHECK(upper.config);
  CHECK(parse_http_url("HTTP://am:9093", nullptr, UrlCredentials::refused));
  // A bad port or host fails at config time, not at run time.
  CHECK_FALSE(parse_config_text("[alerting]\nalertmanagers = [\"http://am:99999\"]\n", "d").config);
  // Patroni may carry credentials; a bad one never echoes them.
  const auto patroni = parse_config_text(
      "[[target]]\nname = \"a\"\npatroni_url = \"ftp://admin:Secret3@p:8008\"\n", "e");
  CHECK_FALSE(patroni.config);
  CHECK_FALSE(contains(all_errors(patroni), "Secret3"));
  CHECK(contains(all_errors(patroni), "<redacted>"));
  CHECK(
      parse_config_text("[[target]]\nname = \"a\"\npatroni_url = \"http://admin:pw@p:8008\"\n", "f")
          .config);
}

TEST_CASE("a library message quoting a conninfo is redacted") {
  // libpq's words for a URI it cannot read, with the whole URI quoted.
  const std::string uri = "postgresql://u:Secret@[::1/postgres";
  const std::string message =
      "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"" +
      uri + "\"";
  const std::string shown = redact_conninfo_message(message, uri);
  CHECK_FALSE(contains(shown, "Secret"));
  CHECK(contains(shown, "IPv6 host address"));
  // A password with an unquoted space: libpq quotes its second half.
  const std::string kv = "host=db password=first second";
  const std::string quoted_word =
      redact_conninfo_message("missing \"=\" after \"second\" in connection info string", kv);
  CHECK_FALSE(contains(quoted_word, "second"));
  CHECK(conninfo_secrets("postgresql://u:p%40ss@h/db?password=other") ==
        std::vector<std::string>{"other", "p%40ss"});
  // Known secrets are masked wherever a message repeats them.
  const std::vector<std::string> secrets{"hunter2"};
  CHECK(scrub_secrets("FATAL: role \"hunter2\" does not exist", secrets) ==
        "FATAL: role \"***\" does not exist");
}
