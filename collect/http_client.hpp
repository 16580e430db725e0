#pragma once
// The one HTTP client for every outbound request: Alertmanager pushes,
// Patroni's REST API, and the datastores to come. One URL parser (http and
// https, [IPv6] hosts, credentials kept out of display strings), one TLS
// setup (system trust store, host name verified, TLS 1.2+), one policy for
// deadlines (a single one covering resolve, connect, handshake, write and
// read) and body limits. Asynchronous on the daemon's loop; nothing blocks.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace pgvigil {

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

struct HttpRequest {
  enum class Method { get, post };
  Method method = Method::get;
  std::string path;           // appended to the URL's base path
  std::string accept;         // Accept header, when not empty
  std::string content_type;   // for a body
  std::string authorization;  // replaces the URL's own credentials when set; a secret
  std::string body;
};

struct HttpResult {
  bool ok = false;      // a complete response with a 2xx status arrived
  unsigned status = 0;  // HTTP status, 0 when no response arrived
  std::string body;
  std::string error;  // why it is not ok, e.g. "connect: Connection refused", "HTTP 503"
  std::chrono::steady_clock::duration elapsed{};
};

class HttpClient {
 public:
  using Callback = std::function<void(HttpResult)>;

  explicit HttpClient(boost::asio::io_context& io);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request (Connection: close). `done` runs exactly once, on the
  // loop, at the latest when `timeout` has passed. A reply body larger than
  // `body_limit` is an error. For https the server's certificate is verified
  // against the system trust store (SSL_CERT_FILE / SSL_CERT_DIR replace it).
  void send(const HttpUrl& url, HttpRequest request, std::chrono::milliseconds timeout,
            std::size_t body_limit, Callback done);
  void get(const HttpUrl& url, std::string_view path, std::chrono::milliseconds timeout,
           std::size_t body_limit, Callback done);
  // Ends every exchange in flight; their callbacks run with "cancelled".
  void cancel();

  struct Exchange;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<boost::asio::ssl::context> ssl_;  // made on the first https request
  std::vector<std::weak_ptr<Exchange>> in_flight_;
};

}  // namespace pgvigil
