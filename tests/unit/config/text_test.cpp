#include <doctest/doctest.h>

#include <string>

#include "config/text.hpp"

using namespace pgvigil::config;

TEST_CASE("trim removes ASCII whitespace, or the given characters, at both ends") {
  CHECK(trim("  a b \t\r\n") == "a b");
  CHECK(trim("\f\va\v") == "a");
  CHECK(trim("") == "");
  CHECK(trim(" \t\n ") == "");
  CHECK(trim("x") == "x");
  CHECK(trim(" \ta\t \n", " \t") == "a\t \n");
  CHECK(trim("  q=1  ", " ") == "q=1");
  // Non-ASCII bytes are never whitespace.
  CHECK(trim("\xc2\xa0x\xc2\xa0") == "\xc2\xa0x\xc2\xa0");
}

TEST_CASE("iequals, istarts_with, ifind ignore ASCII case only") {
  CHECK(iequals("Basic", "bASIC"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("gzip", "gzip2"));
  CHECK_FALSE(iequals("\xc3\x89", "\xc3\xa9"));  // É and é: not ASCII
  CHECK(istarts_with("PostgreSQL://db", "postgresql://"));
  CHECK_FALSE(istarts_with("post", "postgres"));
  CHECK(ifind("a PassWord=x", "password") == 2);
  CHECK(ifind("password password", "PASSWORD", 1) == 9);
  CHECK(ifind("abc", "d") == std::string_view::npos);
  CHECK(ifind("abc", "", 3) == 3);
  CHECK(ifind("abc", "", 4) == std::string_view::npos);
  CHECK(ifind("ab", "abc") == std::string_view::npos);
  CHECK(icontains("No Space Left On Device", "no space left"));
}

TEST_CASE("clip_utf8 never cuts through a UTF-8 sequence") {
  const std::string e = "\xc3\xa9";              // é, 2 bytes
  const std::string euro = "\xe2\x82\xac";       // €, 3 bytes
  const std::string emoji = "\xf0\x9f\x98\x80";  // 😀, 4 bytes
  CHECK(clip_utf8("abc", 5) == "abc");
  CHECK(clip_utf8("abc", 3) == "abc");
  CHECK(clip_utf8("abc", 2) == "ab");
  CHECK(clip_utf8("abc", 0) == "");
  CHECK(clip_utf8("a" + e, 2) == "a");            // inside é
  CHECK(clip_utf8("a" + e + "b", 3) == "a" + e);  // right after é
  for (std::size_t limit = 1; limit <= 3; ++limit) {
    CAPTURE(limit);
    CHECK(clip_utf8(euro + "x", limit) == (limit == 3 ? euro : ""));
  }
  for (std::size_t limit = 1; limit <= 5; ++limit) {
    CAPTURE(limit);
    CHECK(clip_utf8("a" + emoji, limit) == (limit == 5 ? "a" + emoji : "a"));
  }
  // Stray continuation bytes (not UTF-8 at all) give an empty prefix, not a crash.
  CHECK(clip_utf8("\x80\x80\x80", 2) == "");
}

TEST_CASE("first_line keeps the first line, trimmed and clipped") {
  CHECK(first_line("FATAL:  no\nDETAIL: more") == "FATAL:  no");
  CHECK(first_line("one line  \r\n") == "one line");
  CHECK(first_line("") == "");
  CHECK(first_line("\nsecond") == "");
  CHECK(first_line(std::string(400, 'x')).size() == 300);
  CHECK(first_line("ab\xc3\xa9", 3) == "ab");
}
