// The redaction module on its own; redaction_test.cpp covers redact_conninfo
// and the rendered config.
#include <doctest/doctest.h>

#include <string>

#include "config/conninfo.hpp"
#include "config/redaction.hpp"

using namespace pgvigil::config;

TEST_CASE("redact_conninfo: key=value quoting and escapes") {
  CHECK(redact_conninfo("host=db password=s3cret user=mon") ==
        "host=db password=<redacted> user=mon");
  CHECK(redact_conninfo(R"(password='a \'quoted\' pass' dbname=x)") ==
        "password=<redacted> dbname=x");
  CHECK(redact_conninfo(R"(password=a\ b dbname=x)") == "password=<redacted> dbname=x");
  CHECK(redact_conninfo("PassWord = 'x y'") == "PassWord = <redacted>");
  CHECK(redact_conninfo("passfile=/p password=") == "passfile=/p password=<redacted>");
  // The tail that cannot be read is hidden with whatever it holds.
  CHECK(redact_conninfo("host=db password='open") == "host=db <redacted>");
}

TEST_CASE("redact_conninfo: URIs") {
  CHECK(redact_conninfo("postgresql://mon:hunter2@db:5432/app") ==
        "postgresql://mon:<redacted>@db:5432/app");
  CHECK(redact_conninfo("postgresql://mon:a/b@c@db/app") == "postgresql://mon:<redacted>@db/app");
  CHECK(redact_conninfo("postgres://db/app?password=x&sslmode=require") ==
        "postgres://db/app?password=<redacted>&sslmode=require");
  CHECK(redact_conninfo("postgres://db/app?PASSWORD=x") == "postgres://db/app?PASSWORD=<redacted>");
  CHECK(redact_conninfo("postgresql://mon@db/app?password") == "postgresql://mon@db/app?password");
  CHECK(redact_conninfo("  postgresql://u:p@[::1]:5432/db") ==
        "  postgresql://u:<redacted>@[::1]:5432/db");
}

TEST_CASE("redact_url_userinfo masks only the password of the user info") {
  CHECK(redact_url_userinfo("http://watcher:pw@10.0.0.1:8008/x") ==
        "http://watcher:<redacted>@10.0.0.1:8008/x");
  CHECK(redact_url_userinfo("https://u:p@ss@host") == "https://u:<redacted>@host");
  CHECK(redact_url_userinfo("https://user@host:8008") == "https://user@host:8008");
  CHECK(redact_url_userinfo("http://host:8008/a@b") == "http://host:8008/a@b");
  CHECK(redact_url_userinfo("http://[::1]:8008") == "http://[::1]:8008");
  CHECK(redact_url_userinfo("not a url") == "not a url");
  CHECK(redact_url_userinfo("") == "");
}

TEST_CASE("mask_secrets covers free text") {
  CHECK(mask_secrets("connection failed: host=db password='a b' user=x") ==
        "connection failed: host=db password=*** user=x");
  CHECK(mask_secrets(R"(password="q\"uote" next)") == "password=*** next");
  CHECK(mask_secrets("a=postgresql://u:pw@db/x b=http://v:pw2@h:1 end") ==
        "a=postgresql://u:***@db/x b=http://v:***@h:1 end");
  CHECK(mask_secrets("postgresql://u:p@w@db/x") == "postgresql://u:***@db/x");
  CHECK(mask_secrets("'postgresql://u:pw@db'") == "'postgresql://u:***@db'");
  CHECK(mask_secrets("mail admin@example.com about http://host/") ==
        "mail admin@example.com about http://host/");
  CHECK(mask_secrets("://") == "://");
}

TEST_CASE("scan_conninfo resolves quotes and escapes and finds URIs") {
  const ConninfoScan scan = scan_conninfo(R"(host=db  password = 'it\'s' opt=a\ b)");
  REQUIRE(scan.ok);
  REQUIRE(scan.pairs.size() == 3);
  CHECK(scan.pairs[1].keyword == "password");
  CHECK(scan.pairs[1].value == "it's");
  CHECK(scan.pairs[2].value == "a b");
  const ConninfoScan bad = scan_conninfo("host=db junk");
  CHECK_FALSE(bad.ok);
  CHECK(bad.error_at == 8);
  CHECK(is_conninfo_uri(" POSTGRES://x"));
  CHECK_FALSE(is_conninfo_uri("host=postgresql://"));
  const auto params = uri_params("postgresql://h/db?a=1&b&c=");
  REQUIRE(params.size() == 3);
  CHECK(params[0].key == "a");
  CHECK(params[1].key == "b");
  CHECK(params[1].value_begin == params[1].value_end);
  CHECK(params[2].value_begin == params[2].value_end);
}
