#include <doctest/doctest.h>

#include <string>

#include "config/host_port.hpp"

using namespace pgvigil::config;

namespace {

HostPort ok(std::string_view text, std::optional<std::uint16_t> default_port = std::nullopt) {
  const HostPortResult result = parse_host_port(text, default_port);
  INFO(text, " -> ", result.error);
  REQUIRE(result.value.has_value());
  CHECK(result.error.empty());
  return *result.value;
}

std::string error_of(std::string_view text,
                     std::optional<std::uint16_t> default_port = std::nullopt) {
  const HostPortResult result = parse_host_port(text, default_port);
  CHECK_FALSE(result.value.has_value());
  return result.error;
}

}  // namespace

TEST_CASE("host:port and [IPv6]:port") {
  CHECK(ok("127.0.0.1:9816").host == "127.0.0.1");
  CHECK(ok("127.0.0.1:9816").port == 9816);
  CHECK(ok("db.example:0").port == 0);
  CHECK(ok("h:65535").port == 65535);
  CHECK(ok("[::1]:9816").host == "::1");
  CHECK(ok("[::]:80").port == 80);
  CHECK(ok("[fe80::1%eth0]:5432").host == "fe80::1%eth0");
}

TEST_CASE("a missing port takes the default only when there is one") {
  CHECK(ok("alertmanager", 80).port == 80);
  CHECK(ok("alertmanager", 80).host == "alertmanager");
  CHECK(ok("[2001:db8::1]", 443).host == "2001:db8::1");
  CHECK(ok("[2001:db8::1]", 443).port == 443);
  CHECK(ok("am:9093", 80).port == 9093);
  CHECK(error_of("alertmanager") == "expected \"host:port\"");
  CHECK(error_of("[::1]") == "expected \"[IPv6]:port\"");
}

TEST_CASE("bad host:port says what is wrong without echoing the text") {
  CHECK(error_of("::1:9816") == "write IPv6 addresses in brackets, e.g. \"[::1]:9816\"");
  CHECK(error_of("[::1:9816") == "expected \"[IPv6]:port\"");
  CHECK(error_of("[::1:9816", 80) == "expected \"[IPv6]\" or \"[IPv6]:port\"");
  CHECK(error_of("[::1]9816") == "expected \"[IPv6]:port\"");
  CHECK(error_of("[::1]x", 80) == "expected \"[IPv6]\" or \"[IPv6]:port\"");
  CHECK(error_of(":9816") == "the host is missing");
  CHECK(error_of("[]:9816") == "the host is missing");
  CHECK(error_of("", 80) == "the host is missing");
  for (const char* text : {"h:", "h:65536", "h:-1", "h:+80", "h:8o", "h:123456", "h: 80"}) {
    CAPTURE(text);
    CHECK(error_of(text) == "the port must be 0..65535");
  }
}
