#include "config/host_port.hpp"

#include <algorithm>

#include "config/text.hpp"

namespace pgvigil::config {
namespace {

HostPortResult fail(std::string message) {
  return {std::nullopt, std::move(message)};
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_ascii_digit)) {
    return std::nullopt;
  }
  unsigned value = 0;  // at most 5 digits: no overflow
  for (const char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

HostPortResult parse_host_port(std::string_view text, std::optional<std::uint16_t> default_port) {
  std::string_view host;
  std::optional<std::string_view> port;  // empty when the text has no ":port"
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    const std::string_view after =
        close == std::string_view::npos ? std::string_view{} : text.substr(close + 1);
    const bool port_follows = !after.empty() && after.front() == ':';
    if (close == std::string_view::npos || (!after.empty() && !port_follows) ||
        (after.empty() && !default_port)) {
      return fail(default_port ? "expected \"[IPv6]\" or \"[IPv6]:port\""
                               : "expected \"[IPv6]:port\"");
    }
    host = text.substr(1, close - 1);
    if (port_follows) port = after.substr(1);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos && !default_port) return fail("expected \"host:port\"");
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("write IPv6 addresses in brackets, e.g. \"[::1]:9816\"");
    }
  }
  if (host.empty()) return fail("the host is missing");
  HostPort out{std::string(host), default_port.value_or(0)};
  if (port) {
    const auto number = parse_port(*port);
    if (!number) return fail("the port must be 0..65535");
    out.port = *number;
  }
  return {std::move(out), {}};
}

}  // namespace pgvigil::config
