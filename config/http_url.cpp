#include "config/http_url.hpp"

#include "config/host_port.hpp"
#include "config/text.hpp"

namespace pgvigil::config {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// user:p%40ss as written in a URL -> the bytes meant.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_digit(text[i + 1]);
    const int low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(data[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < data.size()) {
    auto n = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size())
      n |= static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  std::string pair(user);
  pair += ':';
  pair += password;
  return "Basic " + base64_encode(pair);
}

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string* error,
                                      UrlCredentials credentials) {
  auto fail = [&](const std::string& why) -> std::optional<HttpUrl> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  std::string_view rest = url;
  // Case-insensitive, like the config check.
  const bool tls = istarts_with(rest, "https://");
  if (!tls && !istarts_with(rest, "http://"))
    return fail("URL must start with http:// or https://");
  rest.remove_prefix(tls ? 8 : 7);
  const auto end_of_authority = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end_of_authority);
  std::string path(end_of_authority == std::string_view::npos ? "" : rest.substr(end_of_authority));
  if (path.find_first_of("?#") != std::string::npos)
    return fail("URL must not have a query or fragment");
  while (!path.empty() && path.back() == '/') path.pop_back();

  HttpUrl out;
  out.tls = tls;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    if (credentials == UrlCredentials::refused)
      return fail("URL must not carry credentials (user:password@)");
    const auto userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto decoded = percent_decode(userinfo);
    if (!decoded) return fail("URL has a badly percent-encoded user:password part");
    if (decoded->find(':') == std::string::npos)
      return fail("URL credentials must be user:password");
    out.authorization = "Basic " + base64_encode(*decoded);
  }
  auto host_port = parse_host_port(authority, tls ? 443 : 80);
  if (!host_port.value) return fail("URL authority: " + host_port.error);
  if (host_port.value->port == 0) return fail("URL has an invalid port");
  out.host = std::move(host_port.value->host);
  out.port = std::to_string(host_port.value->port);
  out.path = path;
  const bool v6 = out.host.find(':') != std::string::npos;
  out.display = std::string(tls ? "https://" : "http://") + (v6 ? "[" + out.host + "]" : out.host) +
                ":" + out.port + out.path;
  return out;
}

}  // namespace pgvigil::config
