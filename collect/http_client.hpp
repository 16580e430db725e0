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

#include "config/http_url.hpp"

namespace boost::asio::ssl {
class context;
}

namespace pgvigil {

// The one URL parser lives in config/ so the config check and the client
// read a URL the same way.
using config::base64_encode;
using config::basic_authorization;
using config::HttpUrl;
using config::parse_http_url;
using config::UrlCredentials;

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
  // Where an exchange without a usable response stopped, so a caller can
  // classify it (a datastore's down reason) without reading `error`'s text.
  enum class Failure {
    none,  // a response arrived (any status)
    resolve,
    refused,  // connect: ECONNREFUSED
    connect,  // connect: any other error
    tls,
    io,        // write or read failed (reset, closed mid-reply)
    protocol,  // the reply is not HTTP
    timeout,
    too_large,  // body over the limit
    cancelled,
  };
  bool ok = false;      // a complete response with a 2xx status arrived
  unsigned status = 0;  // HTTP status, 0 when no response arrived
  std::string body;
  std::string error;  // why it is not ok, e.g. "connect: Connection refused", "HTTP 503"
  std::chrono::steady_clock::duration elapsed{};
  Failure failure = Failure::none;
};

// The Authorization header value from secret files: "Bearer TOKEN" from a
// token file, else basic auth from a user and password file, else "". On an
// unreadable file sets *error (naming the file, never its content) and
// returns "". Reads small files: call at (re)configuration.
std::string authorization_from_files(const std::string& basic_user,
                                     const std::string& basic_password_file,
                                     const std::string& bearer_token_file, std::string* error);

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
