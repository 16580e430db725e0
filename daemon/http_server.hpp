#pragma once
// The daemon's HTTP listener: plain HTTP/1.1 with keep-alive on the daemon's
// single-threaded io_context. Routing lives in http_routes.hpp; this file
// only moves bytes, enforces limits and timeouts, and shuts down gracefully.
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  // `handler` runs on the io_context's thread, once per request. If it throws,
  // the client gets a generic 500.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  // Closes listeners and connections at once (no graceful wait).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every "host:port" or "[v6]:port" address (host: an IP literal or a
  // name that resolves locally) and starts accepting when the io_context runs.
  // Throws std::runtime_error naming the address on failure; listeners opened
  // by this call are closed again then. Returns the bound endpoints, with the
  // real port where port 0 was asked for.
  std::vector<boost::asio::ip::tcp::endpoint> listen(const std::vector<std::string>& addresses);

  // Stops accepting, lets requests being read or answered finish (their
  // response says Connection: close), and closes idle keep-alive connections.
  // The server then holds no work on the io_context.
  void stop();

  std::size_t active_connections() const;

  struct State;  // shared with the connections, which may outlive a stop()

 private:
  std::shared_ptr<State> state_;
};

}  // namespace pgvigil::http
