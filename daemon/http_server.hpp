#pragma once
// The daemon's HTTP listener: HTTP/1.1 with keep-alive, over plain TCP or TLS
// (chosen per server, same code path), on the daemon's single-threaded
// io_context. Routing lives in http_routes.hpp; this file moves bytes,
// enforces limits and timeouts, checks basic auth (bcrypt off the loop, see
// http_auth.hpp), and shuts down gracefully.
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/http_routes.hpp"

namespace boost::asio {
class io_context;
}

namespace pgvigil::http {

struct HttpServerOptions {
  std::size_t max_connections = 64;  // further connections are closed at once
  std::size_t header_limit = 8192;   // bytes of request line + headers; over it: 431
  std::size_t body_limit = 16384;    // request body bytes; over it: 413
  // For a whole request (and for a new connection's first byte); a client
  // that is slower is dropped.
  std::chrono::milliseconds read_timeout{10000};
  // How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{60000};
  // A new connection must finish its TLS handshake and deliver its first
  // request within this (and within read_timeout): silent connections of a
  // slowloris flood go away sooner than ones that have made a request.
  std::chrono::milliseconds first_request_timeout{5000};

  // TLS with these settings when set; plain HTTP otherwise.
  std::optional<config::TlsConfig> tls;
  // How often, at most, the certificate files are stat()ed for a renewal.
  std::chrono::milliseconds tls_check_interval{1000};

  // user -> bcrypt hash. Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
  bool auth_exempt_health = true;  // /health and /ready open without credentials
  // bcrypt checks waiting at once, in all and per client address; more get
  // 503 with Retry-After. Waiting checks run in turn across addresses.
  std::size_t max_pending_verifications = 16;
  std::size_t max_pending_verifications_per_client = 4;
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  // `handler` runs on the io_context's thread, once per authorized request. If
  // it throws, the client gets a generic 500. Throws std::runtime_error when
  // the TLS files cannot be used (the message names the file, never a secret).
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  // Closes listeners and connections at once (no graceful wait) and waits for
  // a bcrypt check that is running on the worker thread.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every "host:port" or "[v6]:port" address (host: an IP literal or a
  // name that resolves locally) and starts accepting when the io_context runs.
  // Throws std::runtime_error naming the address on failure; listeners opened
  // by this call are closed again then. Returns the bound endpoints, with the
  // real port where port 0 was asked for. At max_connections a new connection
  // replaces the oldest one that has not completed a request yet (or else one
  // idle on keep-alive for over a second); only when every connection is busy
  // is the new one closed. A flood of idle sockets cannot lock scrapes out.
  std::vector<boost::asio::ip::tcp::endpoint> listen(const std::vector<std::string>& addresses);

  // Stops accepting, lets requests being read or answered finish (their
  // response says Connection: close), and closes idle keep-alive connections.
  // The server then holds no work on the io_context.
  void stop();

  // Replaces the basic-auth users and the health exemption (config reload);
  // forgets cached verifications when anything changed.
  void update_auth(std::map<std::string, std::string> users, bool exempt_health);

  std::size_t active_connections() const;
  bool tls_enabled() const;
  // How often a changed certificate was re-read since the start.
  std::uint64_t tls_reloads() const;
  // Connections closed to admit a new one at max_connections (see listen()).
  std::uint64_t evicted_connections() const;

  struct State;  // shared with the connections, which may outlive a stop()

 private:
  std::shared_ptr<State> state_;
  struct Verifier;  // the worker thread for bcrypt
  std::unique_ptr<Verifier> verifier_;
};

}  // namespace pgvigil::http
