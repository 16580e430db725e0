#pragma once
// "host:port" and "[IPv6]:port", as written in listen addresses and URLs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgvigil::config {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 address
  std::uint16_t port = 0;
};

// Either a host and port, or why the text is not one. The error never quotes
// the text (it may be part of a URL with a password), so callers can prefix
// it with whatever context they choose to show.
struct HostPortResult {
  std::optional<HostPort> value;
  std::string error;
};

// Splits "host:port" or "[v6]:port"; the port is 0..65535 in decimal. With a
// default_port the ":port" part may be left out ("host", "[v6]"). An IPv6
// address must be in brackets, since "::1:80" is ambiguous.
HostPortResult parse_host_port(std::string_view text,
                               std::optional<std::uint16_t> default_port = std::nullopt);

}  // namespace pgvigil::config
