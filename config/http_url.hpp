#pragma once
// http:// and https:// URLs as pgvigil reads them, in one place: the config
// check and the HTTP client (collect/http_client.hpp) both use this parser,
// so a URL that passes check-config is one the daemon can use.
#include <optional>
#include <string>
#include <string_view>

namespace pgvigil::config {

struct HttpUrl {
  bool tls = false;
  std::string host;           // without [] for IPv6
  std::string port;           // "80" / "443" when the URL has none
  std::string path;           // base path, no trailing slash ("" or "/patroni-a")
  std::string authorization;  // "Basic ..." from user:password@, else ""; a secret
  std::string display;        // scheme://host:port/path without credentials, for logs and labels
};

enum class UrlCredentials { allowed, refused };

// Splits an http:// or https:// URL (scheme case-insensitive). Returns nullopt
// with *error set, never quoting the credentials, when the URL cannot be used.
// With UrlCredentials::refused a user:password@ part is an error (where the
// config has its own secret files, a password in a URL would end up in logs).
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string* error,
                                      UrlCredentials credentials = UrlCredentials::allowed);

std::string base64_encode(std::string_view data);
// "Basic base64(user:password)".
std::string basic_authorization(std::string_view user, std::string_view password);

}  // namespace pgvigil::config
