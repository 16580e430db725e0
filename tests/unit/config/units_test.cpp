#include <doctest/doctest.h>

#include <initializer_list>
#include <limits>

#include "config/parse.hpp"
#include "config/units.hpp"

using namespace pgvigil::config;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts each unit and compounds") {
  CHECK(parse_duration("500ms") == Duration{500ms});
  CHECK(parse_duration("30s") == Duration{30s});
  CHECK(parse_duration("5m") == Duration{5min});
  CHECK(parse_duration("24h") == Duration{24h});
  CHECK(parse_duration("1d") == Duration{24h});
  CHECK(parse_duration("1h30m") == Duration{90min});
  CHECK(parse_duration("1d2h3m4s5ms") == Duration{24h + 2h + 3min + 4s + 5ms});
  CHECK(parse_duration("0s") == Duration{0});
  CHECK(parse_duration("3650d") == Duration{std::chrono::hours(24 * 3650)});
}

TEST_CASE("parse_duration rejects malformed text") {
  for (const char* text :
       {"", "5", "-5s", "+5s", "5 s", " 5s", "5s ", "s", "5x", "5S", "1.5s", "1m1h", "1s1s",
        "5msms", "1h30", "99999999999999999999s", "3651d", "$HOME"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("format_duration is the inverse of parse_duration") {
  CHECK(format_duration(Duration{0}) == "0s");
  CHECK(format_duration(Duration{90min}) == "1h30m");
  CHECK(format_duration(Duration{1500ms}) == "1s500ms");
  for (const auto value : {Duration{1}, Duration{999}, Duration{60'000}, Duration{86'400'001},
                           Duration{15 * 60 * 1000}, Duration{123'456'789}}) {
    CAPTURE(value.count());
    const auto round_trip = parse_duration(format_duration(value));
    REQUIRE(round_trip.has_value());
    CHECK(*round_trip == value);
  }
}

TEST_CASE("parse_size accepts bytes, decimal and binary units") {
  CHECK(parse_size("1024") == 1024u);
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("1B") == 1u);
  CHECK(parse_size("16KB") == 16'000u);
  CHECK(parse_size("16KiB") == 16u * 1024u);
  CHECK(parse_size("512MiB") == 512ull * 1024 * 1024);
  CHECK(parse_size("10GB") == 10'000'000'000ull);
  CHECK(parse_size("2GiB") == 2ull * 1024 * 1024 * 1024);
  CHECK(parse_size("3TB") == 3'000'000'000'000ull);
  CHECK(parse_size("1TiB") == 1024ull * 1024 * 1024 * 1024);
  CHECK(parse_size("4mb") == 4'000'000u);  // units are case-insensitive
  CHECK(parse_size("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("parse_size rejects malformed or overflowing text") {
  for (const char* text : {"", "KB", "-1KB", "1.5GB", "10 GB", " 10GB", "10XB", "10K", "10GBs",
                           "18446744073709551616", "20000000TB", "0x10"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_size(text).has_value());
  }
}

TEST_CASE("format_size round-trips and picks an exact unit") {
  CHECK(format_size(0) == "0B");
  CHECK(format_size(16 * 1024) == "16KiB");
  CHECK(format_size(4'000'000) == "4MB");
  CHECK(format_size(1536) == "1536B");
  for (const std::uint64_t value : std::initializer_list<std::uint64_t>{
           0, 1, 1000, 1024, 1536, 1'024'000, 1'000'000'000, 5ull * 1024 * 1024 * 1024 * 1024,
           std::numeric_limits<std::uint64_t>::max()}) {
    CAPTURE(value);
    CHECK(parse_size(format_size(value)) == value);
  }
}

TEST_CASE("parse_percent turns percent strings into ratios") {
  CHECK(parse_percent("80%") == doctest::Approx(0.8));
  CHECK(parse_percent("0.5%") == doctest::Approx(0.005));
  CHECK(parse_percent("100%") == doctest::Approx(1.0));
  for (const char* text : {"", "%", "80", "-5%", "1e3%", "nan%", "8 0%", "80%%", ".%"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_percent(text).has_value());
  }
}

TEST_CASE("parse_expect reads an operator and a number") {
  struct Case {
    const char* text;
    Comparison comparison;
    double threshold;
  };
  for (const Case& c :
       {Case{"> 0", Comparison::greater, 0}, Case{">=1.5", Comparison::greater_equal, 1.5},
        Case{"< -3", Comparison::less, -3}, Case{"<= 100", Comparison::less_equal, 100},
        Case{"== 1", Comparison::equal, 1}, Case{"!= 0", Comparison::not_equal, 0},
        Case{"  >  +2  ", Comparison::greater, 2}}) {
    CAPTURE(c.text);
    const auto parsed = parse_expect(c.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->first == c.comparison);
    CHECK(parsed->second == doctest::Approx(c.threshold));
  }
  for (const char* text :
       {"", "0", ">", "> ", "=> 0", "= 0", "> abc", "> 1 2", ">= nan", "> inf", "<> 1", "> +-1"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_expect(text).has_value());
  }
}
