#pragma once
// One asynchronous HTTP(S) GET on the daemon's loop, for peers that answer
// JSON (Patroni's REST API). Resolve, connect, TLS handshake, write and read
// all run under one deadline; the body is capped; nothing blocks. Credentials
// given in the URL (http://user:password@host/) become a Basic Authorization
// header and are left out of every error message and display string.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace pgvigil {

struct FetchUrl {
  bool tls = false;
  std::string host;           // without [] for IPv6
  std::string port;           // "80" / "443" when the URL has none
  std::string path;           // base path, no trailing slash ("" or "/patroni-a")
  std::string authorization;  // "Basic ..." from user:password@, else ""; a secret
  std::string display;        // scheme://host:port/path without credentials, for logs
};

// Splits an http:// or https:// URL. Returns nullopt with *error set (never
// quoting the credentials) when the URL cannot be used.
std::optional<FetchUrl> parse_fetch_url(std::string_view url, std::string* error);

struct FetchResult {
  bool ok = false;      // a complete response with a 2xx status arrived
  unsigned status = 0;  // HTTP status, 0 when no response arrived
  std::string body;
  std::string error;  // why it is not ok, e.g. "connect: Connection refused", "HTTP 503"
};

class HttpFetcher {
 public:
  using Callback = std::function<void(FetchResult)>;

  explicit HttpFetcher(boost::asio::io_context& io);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // GETs url.path + path. `done` runs exactly once, on the loop, at the latest
  // when `timeout` has passed. A body larger than `body_limit` is an error.
  // For https the server's certificate is verified against the system trust
  // store (SSL_CERT_FILE / SSL_CERT_DIR replace it) and its host name checked.
  void get(const FetchUrl& url, std::string_view path, std::chrono::milliseconds timeout,
           std::size_t body_limit, Callback done);

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<boost::asio::ssl::context> ssl_;  // made on the first https request
};

}  // namespace pgvigil
