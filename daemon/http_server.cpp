// The only translation unit that instantiates Beast's parser, serializer and
// stream code, to keep the daemon's compile time down.
#include "daemon/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <list>
#include <optional>
#include <stdexcept>
#include <utility>

namespace pgvigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

class Connection;

constexpr std::size_t kReadChunk = 4096;
// After an error response, unread request bytes are drained for a while so
// closing does not reset the connection before the client reads the answer.
constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

}  // namespace

struct HttpServer::State {
  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io), retry_timer(io) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;  // backs off after accept errors such as EMFILE
  };

  State(asio::io_context& io_context, HttpServerOptions server_options, Handler request_handler)
      : io(io_context), options(server_options), handler(std::move(request_handler)) {}

  asio::io_context& io;
  HttpServerOptions options;
  Handler handler;
  bool stopping = false;
  std::vector<std::unique_ptr<Listener>> listeners;  // unique_ptr: handlers keep references
  // Live connections, so stop() can reach them; each removes itself when destroyed.
  std::list<Connection*> connections;
};

namespace {

using State = HttpServer::State;

bool is_quiet_end(const error_code& ec) {
  return ec == beast::http::error::end_of_stream || ec == beast::http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout;
}

Response error_response(beast::http::status status, std::string_view text) {
  Response response{status, 11};
  response.set(beast::http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::string(text) + "\n";
  response.prepare_payload();
  response.keep_alive(false);
  return response;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)), stream_(std::move(socket)) {
    registration_ = state_->connections.insert(state_->connections.end(), this);
  }
  ~Connection() { state_->connections.erase(registration_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() { wait_for_request(state_->options.read_timeout); }

  // Graceful stop: only a connection waiting for its next request is closed
  // now; one reading or answering a request finishes it first.
  void on_stop() {
    if (phase_ == Phase::idle) stream_.cancel();
  }

  void close() {
    phase_ = Phase::closed;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  enum class Phase { idle, reading, writing, lingering, closed };

  // Waits for the first byte of the next request with its own timeout, so an
  // idle keep-alive connection is told apart from a request in progress.
  void wait_for_request(std::chrono::milliseconds wait) {
    if (state_->stopping) return linger_close();
    if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
    phase_ = Phase::idle;
    stream_.expires_after(wait);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](error_code ec, std::size_t bytes) {
                              self->buffer_.commit(bytes);
                              if (ec || bytes == 0) {
                                self->log_end(ec);
                                return self->close();
                              }
                              self->guarded([&] { self->read_request(); });
                            });
  }

  void read_request() {
    phase_ = Phase::reading;
    parser_.emplace();
    const auto& options = state_->options;
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(options.header_limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(static_cast<std::uint64_t>(options.body_limit));
    stream_.expires_after(options.read_timeout);
    beast::http::async_read(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              self->guarded([&] { self->on_request(ec); });
                            });
  }

  void on_request(const error_code& ec) {
    if (ec == beast::http::error::header_limit) {
      return send_error(beast::http::status::request_header_fields_too_large,
                        "Request Header Fields Too Large");
    }
    if (ec == beast::http::error::body_limit) {
      return send_error(beast::http::status::payload_too_large, "Payload Too Large");
    }
    if (ec && !is_quiet_end(ec) &&
        ec.category() ==
            beast::http::make_error_code(beast::http::error::end_of_stream).category()) {
      return send_error(beast::http::status::bad_request, "Bad Request");
    }
    if (ec) {
      log_end(ec);
      return close();
    }

    const Request request = parser_->release();
    parser_.reset();
    Response response;
    try {
      response = state_->handler(request);
    } catch (...) {
      // The text may hold a secret, so it is not logged.
      spdlog::error("http: request handler failed with an exception");
      response =
          error_response(beast::http::status::internal_server_error, "Internal Server Error");
      response.keep_alive(true);  // the connection itself is fine
    }
    response.version(request.version());
    const bool is_head = request.method() == beast::http::verb::head;
    if (!response.has_content_length() && !response.chunked()) {
      if (is_head) {
        response.content_length(response.body().size());
      } else {
        response.prepare_payload();
      }
    }
    if (is_head) response.body().clear();
    const bool keep_alive = request.keep_alive() && response.keep_alive() && !state_->stopping;
    response.keep_alive(keep_alive);
    send(std::move(response));
  }

  void send_error(beast::http::status status, std::string_view text) {
    spdlog::debug("http: rejecting request with {}", static_cast<unsigned>(status));
    parser_.reset();
    send(error_response(status, text));
  }

  void send(Response response) {
    phase_ = Phase::writing;
    response_ = std::move(response);
    const bool keep_alive = response_->keep_alive();
    // A client that stops reading is dropped after the idle timeout.
    stream_.expires_after(std::max(state_->options.read_timeout, state_->options.idle_timeout));
    beast::http::async_write(stream_, *response_,
                             [self = shared_from_this(), keep_alive](error_code ec, std::size_t) {
                               self->response_.reset();
                               if (ec) {
                                 self->log_end(ec);
                                 return self->close();
                               }
                               self->guarded([&] {
                                 if (keep_alive) {
                                   self->wait_for_request(self->state_->options.idle_timeout);
                                 } else {
                                   self->linger_close();
                                 }
                               });
                             });
  }

  // Half-closes, then reads and discards until the client closes too (bounded
  // in time and bytes), so our last response is not lost to a reset.
  void linger_close() {
    phase_ = Phase::lingering;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    stream_.expires_after(std::min(state_->options.read_timeout, kMaxLinger));
    drain(0);
  }

  void drain(std::size_t drained) {
    if (drained > kMaxLingerBytes) return close();
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this(), drained](error_code ec, std::size_t n) {
                              if (ec) return self->close();
                              self->buffer_.clear();
                              self->guarded([&] { self->drain(drained + n); });
                            });
  }

  void log_end(const error_code& ec) {
    if (ec && !is_quiet_end(ec)) spdlog::debug("http: connection ended: {}", ec.message());
  }

  // Nothing may throw into the io_context: a failure closes this connection.
  template <class Step>
  void guarded(Step&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      spdlog::warn("http: closing connection after internal error: {}", e.what());
      close();
    } catch (...) {
      spdlog::warn("http: closing connection after internal error");
      close();
    }
  }

  std::shared_ptr<State> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  std::optional<Response> response_;  // alive until its async_write completes
  Phase phase_ = Phase::idle;
  std::list<Connection*>::iterator registration_;
};

void accept_next(const std::shared_ptr<State>& state, State::Listener& listener);

void on_accept(const std::shared_ptr<State>& state, State::Listener& listener, error_code ec,
               tcp::socket socket) {
  if (ec == asio::error::operation_aborted || state->stopping) return;
  if (ec) {
    // Typically out of file descriptors: wait a little instead of spinning.
    spdlog::warn("http: accept failed: {}", ec.message());
    listener.retry_timer.expires_after(kAcceptRetryDelay);
    listener.retry_timer.async_wait([state, &listener](error_code timer_ec) {
      if (timer_ec || state->stopping) return;
      try {
        accept_next(state, listener);
      } catch (...) {
        spdlog::error("http: listener stopped after an internal error");
      }
    });
    return;
  }
  try {
    if (state->connections.size() >= state->options.max_connections) {
      // Refused at once, so a flood of connections cannot hold slots.
      spdlog::debug("http: connection limit {} reached, closing a new connection",
                    state->options.max_connections);
      error_code ignored;
      socket.close(ignored);
    } else {
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Connection>(state, std::move(socket))->start();
    }
  } catch (const std::exception& e) {
    spdlog::warn("http: could not start a connection: {}", e.what());
  }
  accept_next(state, listener);
}

void accept_next(const std::shared_ptr<State>& state, State::Listener& listener) {
  listener.acceptor.async_accept([state, &listener](error_code ec, tcp::socket socket) {
    try {
      on_accept(state, listener, ec, std::move(socket));
    } catch (...) {
      // Only a failure to queue the next accept gets here; the listener stops.
      spdlog::error("http: listener stopped after an internal error");
    }
  });
}

// Splits "host:port" or "[v6]:port"; throws std::runtime_error on bad syntax.
std::pair<std::string, std::string> split_host_port(const std::string& address) {
  std::string host;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const auto close_bracket = address.find(']');
    if (close_bracket == std::string::npos || close_bracket + 1 >= address.size() ||
        address[close_bracket + 1] != ':') {
      throw std::runtime_error("expected [address]:port");
    }
    host = address.substr(1, close_bracket - 1);
    port = address.substr(close_bracket + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("expected host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      throw std::runtime_error("IPv6 addresses need brackets, e.g. [::1]:9816");
    }
  }
  if (host.empty()) throw std::runtime_error("missing host");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535) {
    throw std::runtime_error("port must be a number from 0 to 65535");
  }
  return {host, port};
}

std::vector<tcp::endpoint> resolve(asio::io_context& io, const std::string& address) {
  const auto [host, port] = split_host_port(address);
  const auto port_number = static_cast<unsigned short>(std::stoul(port));
  error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (!ec) return {tcp::endpoint(ip, port_number)};

  tcp::resolver resolver(io);
  const auto results =
      resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::address_configured, ec);
  if (ec) throw std::runtime_error("cannot resolve \"" + host + "\": " + ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    if (std::find(endpoints.begin(), endpoints.end(), entry.endpoint()) == endpoints.end()) {
      endpoints.push_back(entry.endpoint());
    }
  }
  if (endpoints.empty()) throw std::runtime_error("\"" + host + "\" has no address");
  return endpoints;
}

void open_listener(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  // Lets "[::]:port" and "0.0.0.0:port" be listed side by side.
  if (endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : state_(std::make_shared<State>(io, options, std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
  // Connections still answering are cut as well: the owner is going away.
  std::vector<Connection*> open(state_->connections.begin(), state_->connections.end());
  for (Connection* connection : open) connection->close();
}

std::vector<tcp::endpoint> HttpServer::listen(const std::vector<std::string>& addresses) {
  if (state_->stopping) throw std::runtime_error("cannot listen: the HTTP server is stopped");
  const std::size_t first_new = state_->listeners.size();
  std::vector<tcp::endpoint> bound;
  try {
    for (const auto& address : addresses) {
      try {
        for (const auto& endpoint : resolve(state_->io, address)) {
          auto listener = std::make_unique<State::Listener>(state_->io);
          open_listener(listener->acceptor, endpoint);
          bound.push_back(listener->acceptor.local_endpoint());
          state_->listeners.push_back(std::move(listener));
        }
      } catch (const std::exception& e) {
        throw std::runtime_error("cannot listen on \"" + address + "\": " + e.what());
      }
    }
  } catch (...) {
    state_->listeners.resize(first_new);  // closes what this call opened
    throw;
  }
  for (std::size_t i = first_new; i < state_->listeners.size(); ++i) {
    accept_next(state_, *state_->listeners[i]);
  }
  return bound;
}

void HttpServer::stop() {
  state_->stopping = true;
  for (auto& listener : state_->listeners) {
    error_code ignored;
    listener->acceptor.close(ignored);
    listener->retry_timer.cancel();
  }
  std::vector<Connection*> open(state_->connections.begin(), state_->connections.end());
  for (Connection* connection : open) connection->on_stop();
}

std::size_t HttpServer::active_connections() const {
  return state_->connections.size();
}

}  // namespace pgvigil::http
