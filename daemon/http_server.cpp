// The only translation unit that instantiates Beast's parser, serializer and
// stream code (plain and TLS), to keep the daemon's compile time down. That
// is why it is longer than 600 lines: the connection (both streams), the
// accept loop with its eviction and the listener set stay in this one unit.
#include "daemon/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <list>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

#include "config/host_port.hpp"
#include "daemon/http_auth.hpp"
#include "daemon/tls_context.hpp"

namespace pgvigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady_clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadChunk = 4096;
// After an error response, unread request bytes are drained for a while so
// closing does not reset the connection before the client reads the answer.
constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// A keep-alive connection that was answered less than this ago is likely in
// the middle of a burst of requests: it is not closed to admit a newcomer.
constexpr std::chrono::milliseconds kIdleEvictionGrace{1000};

// What the accept path needs to know about every open connection.
class ConnectionBase {
 public:
  enum class Phase { handshake, idle, reading, authorizing, answering, writing, lingering, closed };

  ConnectionBase() = default;
  virtual ~ConnectionBase() = default;
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  virtual void on_stop() = 0;
  virtual void close() = 0;

  // Has not yet completed a request: a silent or trickling newcomer.
  bool fresh() const noexcept {
    return completed_requests_ == 0 &&
           (phase_ == Phase::handshake || phase_ == Phase::idle || phase_ == Phase::reading);
  }
  bool idle_keep_alive() const noexcept { return completed_requests_ > 0 && phase_ == Phase::idle; }
  steady_clock::time_point accepted_at() const noexcept { return accepted_at_; }
  steady_clock::time_point idle_since() const noexcept { return idle_since_; }

 protected:
  Phase phase_ = Phase::idle;
  std::uint64_t completed_requests_ = 0;
  steady_clock::time_point accepted_at_ = steady_clock::now();
  steady_clock::time_point idle_since_ = accepted_at_;
};

}  // namespace

struct HttpServer::State {
  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io), retry_timer(io) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;  // backs off after accept errors such as EMFILE
  };

  State(asio::io_context& io_context, HttpServerOptions server_options, Handler request_handler)
      : io(io_context),
        options(std::move(server_options)),
        handler(std::move(request_handler)),
        auth(options.basic_auth_users, options.auth_exempt_health),
        waiting_checks(options.max_pending_verifications_per_client,
                       options.max_pending_verifications) {
    if (options.tls) {
      tls = std::make_unique<TlsContextSource>(*options.tls, options.tls_check_interval);
    }
  }

  asio::io_context& io;
  HttpServerOptions options;
  Handler handler;
  bool stopping = false;
  std::vector<std::unique_ptr<Listener>> listeners;  // unique_ptr: handlers keep references
  // Open connections, so stop() and the accept path can reach them; each
  // removes itself when it closes or is destroyed.
  std::list<ConnectionBase*> connections;
  std::unique_ptr<TlsContextSource> tls;  // null: plain HTTP
  BasicAuthenticator auth;
  // The bcrypt worker; null once the server is being destroyed.
  asio::thread_pool* verifier = nullptr;
  // Checks waiting for the worker, and whether one is running there.
  FairVerificationQueue<std::function<void()>> waiting_checks;
  bool checking = false;
  std::uint64_t evicted = 0;
};

struct HttpServer::Verifier {
  asio::thread_pool pool{1};
};

namespace {

using State = HttpServer::State;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

bool is_quiet_end(const error_code& ec) {
  return ec == beast::http::error::end_of_stream || ec == beast::http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == ssl::error::stream_truncated;
}

Response error_response(beast::http::status status, std::string_view text) {
  Response response{status, 11};
  response.set(beast::http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::string(text) + "\n";
  response.prepare_payload();
  response.keep_alive(false);
  return response;
}

Response unauthorized_response() {
  Response response = error_response(beast::http::status::unauthorized, "Unauthorized");
  response.set(beast::http::field::www_authenticate, "Basic realm=\"pgvigil\"");
  response.keep_alive(true);  // the client may retry with credentials on this connection
  return response;
}

// Hands the next waiting password check to the worker when none runs there.
void start_next_check(State& state) {
  if (state.checking || state.verifier == nullptr) return;
  auto check = state.waiting_checks.pop();
  if (!check) return;
  state.checking = true;
  asio::post(*state.verifier, std::move(*check));
}

std::string_view view(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Connection(std::shared_ptr<State> state, tcp::socket socket,
             std::shared_ptr<ssl::context> tls_context)
      : state_(std::move(state)),
        tls_context_(std::move(tls_context)),
        stream_(make_stream(std::move(socket), tls_context_.get())) {
    error_code ignored;
    client_ = tcp_layer().socket().remote_endpoint(ignored).address().to_string();
    registration_ = state_->connections.insert(state_->connections.end(), this);
    const auto& options = state_->options;
    first_request_deadline_ =
        accepted_at_ + std::min(options.read_timeout, options.first_request_timeout);
  }
  ~Connection() override { unregister(); }

  void start() {
    if constexpr (kTls) {
      phase_ = Phase::handshake;
      tcp_layer().expires_at(first_request_deadline_);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) {
                                  // Wrong version, no or untrusted client certificate,
                                  // not TLS at all, or too slow.
                                  spdlog::debug("http: TLS handshake failed: {}", ec.message());
                                  return self->close();
                                }
                                self->guarded([&] { self->wait_for_request(); });
                              });
    } else {
      wait_for_request();
    }
  }

  // Graceful stop: only a connection waiting for its next request (or still
  // in its handshake) is closed now; one reading or answering a request
  // finishes it first.
  void on_stop() override {
    if (phase_ == Phase::idle || phase_ == Phase::handshake) tcp_layer().cancel();
  }

  void close() override {
    phase_ = Phase::closed;
    unregister();
    error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer().close();
  }

 private:
  static Stream make_stream(tcp::socket&& socket, ssl::context* context) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *context);
    } else {
      (void)context;
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void unregister() {
    if (!registered_) return;
    registered_ = false;
    state_->connections.erase(registration_);
  }

  // Waits for the first byte of the next request with its own timeout, so an
  // idle keep-alive connection is told apart from a request in progress.
  void wait_for_request() {
    if (state_->stopping) return linger_close();
    if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
    phase_ = Phase::idle;
    idle_since_ = steady_clock::now();
    if (completed_requests_ == 0) {
      tcp_layer().expires_at(first_request_deadline_);
    } else {
      tcp_layer().expires_after(state_->options.idle_timeout);
    }
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = this->shared_from_this()](error_code ec, std::size_t bytes) {
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
    if (completed_requests_ == 0) {
      tcp_layer().expires_at(first_request_deadline_);
    } else {
      tcp_layer().expires_after(options.read_timeout);
    }
    beast::http::async_read(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
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
    ++completed_requests_;
    request_.emplace(parser_->release());
    parser_.reset();
    authorize();
  }

  void authorize() {
    if (!state_->auth.enabled()) return answer();
    auto decision = state_->auth.check(view(request_->target()),
                                       view((*request_)[beast::http::field::authorization]),
                                       steady_clock::now());
    switch (decision.kind) {
      case AuthDecision::Kind::allow:
        return answer();
      case AuthDecision::Kind::deny:
        return refuse_credentials();
      case AuthDecision::Kind::verify:
        return verify_off_loop(std::move(decision));
    }
  }

  // bcrypt runs on the worker thread; the answer comes back to the loop.
  void verify_off_loop(AuthDecision decision) {
    std::string password = std::move(decision.password);
    std::string hash = decision.hash;
    // Runs on the worker thread; the answer goes back to the loop.
    auto check = [self = this->shared_from_this(), password, hash,
                  loop = state_->io.get_executor()]() mutable {
      const bool matches = verify_bcrypt(password, hash);
      wipe(password);
      // `self` moves to the loop: the connection is only ever touched there.
      asio::post(loop, [self = std::move(self), matches] {
        self->state_->checking = false;
        start_next_check(*self->state_);
        self->guarded([&] { self->on_verified(matches); });
      });
    };
    // The limit counts the check running on the worker as well.
    const bool room = state_->waiting_checks.size() + (state_->checking ? 1 : 0) <
                      state_->options.max_pending_verifications;
    const bool queued = state_->verifier != nullptr && room &&
                        state_->waiting_checks.push(client_, std::move(check));
    wipe(password);
    if (!queued) {
      spdlog::debug("http: too many password checks waiting; answering 503");
      Response busy =
          error_response(beast::http::status::service_unavailable, "Service Unavailable");
      busy.set(beast::http::field::retry_after, "1");
      return respond(std::move(busy));
    }
    phase_ = Phase::authorizing;
    decision_.emplace(std::move(decision));
    start_next_check(*state_);
  }

  void on_verified(bool matches) {
    if (phase_ == Phase::closed || !decision_) return;
    const bool allowed = state_->auth.finish(*decision_, matches, steady_clock::now());
    decision_.reset();
    if (allowed) return answer();
    refuse_credentials();
  }

  void refuse_credentials() {
    // Neither the header nor the password is logged: they are secrets.
    spdlog::debug("http: request refused: missing or wrong credentials");
    respond(unauthorized_response());
  }

  void answer() {
    Response response;
    try {
      response = state_->handler(*request_);
    } catch (...) {
      // The text may hold a secret, so it is not logged.
      spdlog::error("http: request handler failed with an exception");
      response =
          error_response(beast::http::status::internal_server_error, "Internal Server Error");
      response.keep_alive(true);  // the connection itself is fine
    }
    if (!response.body().is_deferred()) return respond(std::move(response));
    // A body still being produced off the loop (the /metrics gzip): the
    // connection waits without holding the loop.
    phase_ = Phase::answering;
    resolve_deferred_body(*request_, std::move(response),
                          [self = this->shared_from_this()](Response ready) {
                            if (self->phase_ != Phase::answering) return;  // closed meanwhile
                            self->guarded([&] { self->respond(std::move(ready)); });
                          });
  }

  // Fits the response to the request (version, HEAD, keep-alive) and sends it.
  void respond(Response response) {
    const Request request = std::move(*request_);
    request_.reset();
    fit_response(request, response, !state_->stopping);
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
    tcp_layer().expires_after(std::max(state_->options.read_timeout, state_->options.idle_timeout));
    beast::http::async_write(
        stream_, *response_,
        [self = this->shared_from_this(), keep_alive](error_code ec, std::size_t) {
          self->response_.reset();
          if (ec) {
            self->log_end(ec);
            return self->close();
          }
          self->guarded([&] {
            if (keep_alive) {
              self->wait_for_request();
            } else {
              self->linger_close();
            }
          });
        });
  }

  // Ends the connection without losing our last response: plain TCP
  // half-closes and reads until the client closes too; TLS sends close_notify
  // and waits for the client's. Both bounded in time (and bytes).
  void linger_close() {
    phase_ = Phase::lingering;
    buffer_.clear();
    tcp_layer().expires_after(std::min(state_->options.read_timeout, kMaxLinger));
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close(); });
    } else {
      error_code ignored;
      tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
      drain(0);
    }
  }

  void drain(std::size_t drained) {
    if (drained > kMaxLingerBytes) return close();
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = this->shared_from_this(), drained](
                                                             error_code ec, std::size_t n) {
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
  std::shared_ptr<ssl::context> tls_context_;  // outlives stream_, which uses it
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  std::optional<Request> request_;        // being authorized or answered
  std::optional<AuthDecision> decision_;  // while bcrypt runs (no password in it)
  std::string client_;                    // the peer's address: password checks take turns by it
  std::optional<Response> response_;      // alive until its async_write completes
  steady_clock::time_point first_request_deadline_;
  std::list<ConnectionBase*>::iterator registration_;
  bool registered_ = true;
};

// At the connection limit: closes the connection least likely to be a real
// client so a new one can be admitted. Newcomers that never completed a
// request go first (oldest first), then keep-alive connections idle past the
// grace period. Returns false when every connection is busy.
bool evict_for_newcomer(State& state) {
  const auto now = steady_clock::now();
  ConnectionBase* victim = nullptr;
  bool victim_fresh = false;
  steady_clock::time_point victim_since = steady_clock::time_point::max();
  for (ConnectionBase* connection : state.connections) {
    if (connection->fresh()) {
      if (!victim_fresh || connection->accepted_at() < victim_since) {
        victim = connection;
        victim_fresh = true;
        victim_since = connection->accepted_at();
      }
    } else if (!victim_fresh && connection->idle_keep_alive() &&
               now - connection->idle_since() >= kIdleEvictionGrace &&
               connection->idle_since() < victim_since) {
      victim = connection;
      victim_since = connection->idle_since();
    }
  }
  if (victim == nullptr) return false;
  victim->close();
  ++state.evicted;
  return true;
}

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
    if (state->connections.size() >= state->options.max_connections &&
        !evict_for_newcomer(*state)) {
      // Every slot is answering a request: refused at once.
      spdlog::debug("http: connection limit {} reached, closing a new connection",
                    state->options.max_connections);
      error_code ignored;
      socket.close(ignored);
    } else {
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (state->tls) {
        std::make_shared<Connection<TlsStream>>(state, std::move(socket), state->tls->current())
            ->start();
      } else {
        std::make_shared<Connection<PlainStream>>(state, std::move(socket), nullptr)->start();
      }
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

std::vector<tcp::endpoint> resolve(asio::io_context& io, const std::string& address) {
  auto parsed = config::parse_host_port(address);
  if (!parsed.value) throw std::runtime_error(parsed.error);
  const std::string host = parsed.value->host;
  const std::string port = std::to_string(parsed.value->port);
  const auto port_number = parsed.value->port;
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
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))),
      verifier_(std::make_unique<Verifier>()) {
  state_->verifier = &verifier_->pool;
}

HttpServer::~HttpServer() {
  stop();
  // Connections still answering are cut as well: the owner is going away.
  std::vector<ConnectionBase*> open(state_->connections.begin(), state_->connections.end());
  for (ConnectionBase* connection : open) connection->close();
  // A check already running finishes (bcrypt cannot be interrupted); queued
  // ones are dropped. Their answers find their connections closed.
  state_->verifier = nullptr;
  verifier_->pool.stop();
  verifier_->pool.join();
  // Waiting checks hold their connections, which hold the state.
  state_->waiting_checks.clear();
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
  std::vector<ConnectionBase*> open(state_->connections.begin(), state_->connections.end());
  for (ConnectionBase* connection : open) connection->on_stop();
}

void HttpServer::update_auth(std::map<std::string, std::string> users, bool exempt_health) {
  if (users == state_->options.basic_auth_users &&
      exempt_health == state_->options.auth_exempt_health) {
    return;  // keep the cache
  }
  state_->options.basic_auth_users = users;
  state_->options.auth_exempt_health = exempt_health;
  state_->auth = BasicAuthenticator(std::move(users), exempt_health);
}

std::size_t HttpServer::active_connections() const {
  return state_->connections.size();
}

bool HttpServer::tls_enabled() const {
  return state_->tls != nullptr;
}

std::uint64_t HttpServer::tls_reloads() const {
  return state_->tls ? state_->tls->reloads() : 0;
}

std::uint64_t HttpServer::evicted_connections() const {
  return state_->evicted;
}

}  // namespace pgvigil::http
