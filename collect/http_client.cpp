#include "collect/http_client.hpp"

#include "config/secret_file.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>

#include "config/secret_file.hpp"
#include "config/text.hpp"

namespace pgvigil {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(asio::io_context& io, HttpUrl target, std::shared_ptr<asio::ssl::context> tls_context,
           HttpClient::Callback callback)
      : url(std::move(target)),
        ssl(std::move(tls_context)),
        resolver(io),
        socket(io),
        deadline(io),
        done(std::move(callback)) {}

  void start(HttpRequest what, std::chrono::milliseconds timeout, std::size_t body_limit) {
    started = std::chrono::steady_clock::now();
    request.method(what.method == HttpRequest::Method::post ? bhttp::verb::post : bhttp::verb::get);
    request.target(url.path + what.path);
    request.version(11);
    const bool v6 = url.host.find(':') != std::string::npos;
    request.set(bhttp::field::host, (v6 ? "[" + url.host + "]" : url.host) + ":" + url.port);
    request.set(bhttp::field::user_agent, "pgvigil/" PGVIGIL_VERSION);
    if (!what.accept.empty()) request.set(bhttp::field::accept, what.accept);
    if (!what.content_type.empty()) request.set(bhttp::field::content_type, what.content_type);
    request.set(bhttp::field::connection, "close");
    const auto& authorization = what.authorization.empty() ? url.authorization : what.authorization;
    if (!authorization.empty()) request.set(bhttp::field::authorization, authorization);
    if (what.method == HttpRequest::Method::post || !what.body.empty()) {
      request.body() = std::move(what.body);
      request.prepare_payload();
    }
    limit = body_limit;
    parser.body_limit(body_limit);

    auto self = shared_from_this();
    deadline.expires_after(timeout);
    deadline.async_wait([self, timeout](boost::system::error_code ec) {
      if (ec || self->finished) return;
      // Whatever step is running completes with operation_aborted and sees
      // `finished` set.
      self->finish(failed(HttpResult::Failure::timeout,
                          "timed out after " + std::to_string(timeout.count()) + " ms"));
    });
    resolver.async_resolve(
        url.host, url.port,
        [self](boost::system::error_code ec, const tcp::resolver::results_type& results) {
          if (self->finished) return;
          if (ec) return self->fail(HttpResult::Failure::resolve, "resolve " + self->url.host, ec);
          asio::async_connect(self->socket, results,
                              [self](boost::system::error_code connect_ec, const tcp::endpoint&) {
                                if (self->finished) return;
                                if (connect_ec)
                                  return self->fail(connect_ec == asio::error::connection_refused
                                                        ? HttpResult::Failure::refused
                                                        : HttpResult::Failure::connect,
                                                    "connect", connect_ec);
                                if (!self->url.tls) return self->exchange(self->socket);
                                self->handshake();
                              });
        });
  }
  void handshake() {
    tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket, *ssl);
    tls->set_verify_mode(asio::ssl::verify_peer);
    tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
    boost::system::error_code address_ec;
    asio::ip::make_address(url.host, address_ec);
    if (address_ec)  // SNI is for names only
      SSL_set_tlsext_host_name(tls->native_handle(), url.host.c_str());
    auto self = shared_from_this();
    tls->async_handshake(asio::ssl::stream_base::client, [self](boost::system::error_code ec) {
      if (self->finished) return;
      if (ec) return self->fail(HttpResult::Failure::tls, "TLS", ec);
      self->exchange(*self->tls);
    });
  }

  // The exchange owns the stream, so the reference stays valid.
  template <class Stream>
  void exchange(Stream& stream) {
    auto self = shared_from_this();
    bhttp::async_write(stream, request, [self, &stream](boost::system::error_code ec, std::size_t) {
      if (self->finished) return;
      if (ec) return self->fail(HttpResult::Failure::io, "write", ec);
      // The header first: Beast 1.74 lets a Content-Length body past
      // body_limit when the whole reply arrives in one read, so the declared
      // length is checked here, before the body is buffered.
      bhttp::async_read_header(
          stream, self->buffer, self->parser,
          [self, &stream](boost::system::error_code header_ec, std::size_t) {
            if (self->finished) return;
            if (header_ec) return self->read_failed(header_ec);
            if (const auto length = self->parser.content_length(); length && *length > self->limit)
              return self->finish(
                  failed(HttpResult::Failure::too_large, "reply body over the size limit"));
            bhttp::async_read(stream, self->buffer, self->parser,
                              [self](boost::system::error_code read_ec, std::size_t) {
                                if (self->finished) return;
                                if (read_ec) return self->read_failed(read_ec);
                                self->complete();
                              });
          });
    });
  }

  void read_failed(const boost::system::error_code& ec) {
    if (ec == bhttp::error::body_limit)
      return finish(failed(HttpResult::Failure::too_large, "reply body over the size limit"));
    // Beast's parse errors (bad version, bad header, ...) mean the peer does
    // not speak HTTP; the end of the stream or a reset is the network's.
    const bool not_http =
        ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
    fail(not_http ? HttpResult::Failure::protocol : HttpResult::Failure::io, "read", ec);
  }

  void complete() {
    auto& response = parser.get();
    if (response.body().size() > limit)
      return finish(failed(HttpResult::Failure::too_large, "reply body over the size limit"));
    const auto status = response.result_int();
    HttpResult result;
    result.status = status;
    result.ok = status >= 200 && status < 300;
    if (!result.ok) result.error = "HTTP " + std::to_string(status);
    result.body = std::move(response.body());
    finish(std::move(result));
  }

  static HttpResult failed(HttpResult::Failure failure, std::string error) {
    HttpResult result;
    result.error = std::move(error);
    result.failure = failure;
    return result;
  }

  void fail(HttpResult::Failure failure, const std::string& step,
            const boost::system::error_code& ec) {
    finish(failed(failure, step + ": " + ec.message()));
  }

  void finish(HttpResult result) {
    if (finished) return;
    finished = true;
    result.elapsed = std::chrono::steady_clock::now() - started;
    deadline.cancel();
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    auto callback = std::move(done);
    done = nullptr;
    if (callback) callback(std::move(result));
  }

  HttpUrl url;
  std::shared_ptr<asio::ssl::context> ssl;
  tcp::resolver resolver;
  tcp::socket socket;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  asio::steady_timer deadline;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> request;
  bhttp::response_parser<bhttp::string_body> parser;
  HttpClient::Callback done;
  std::chrono::steady_clock::time_point started;
  std::size_t limit = 0;
  bool finished = false;
};

HttpClient::HttpClient(asio::io_context& io) : io_(io) {}

HttpClient::~HttpClient() {
  cancel();
}

void HttpClient::send(const HttpUrl& url, HttpRequest request, std::chrono::milliseconds timeout,
                      std::size_t body_limit, Callback done) {
  if (url.tls && !ssl_) {
    ssl_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ssl_->set_default_verify_paths();
    ssl_->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                      asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  }
  std::erase_if(in_flight_, [](const auto& weak) { return weak.expired(); });
  auto exchange = std::make_shared<Exchange>(io_, url, ssl_, std::move(done));
  in_flight_.push_back(exchange);
  exchange->start(std::move(request), timeout, body_limit);
}

void HttpClient::get(const HttpUrl& url, std::string_view path, std::chrono::milliseconds timeout,
                     std::size_t body_limit, Callback done) {
  HttpRequest request;
  request.path = std::string(path);
  request.accept = "application/json";
  send(url, std::move(request), timeout, body_limit, std::move(done));
}

void HttpClient::cancel() {
  auto exchanges = std::move(in_flight_);
  in_flight_.clear();
  for (auto& weak : exchanges)
    if (auto exchange = weak.lock())
      exchange->finish(Exchange::failed(HttpResult::Failure::cancelled, "cancelled"));
}

std::string authorization_from_files(const std::string& basic_user,
                                     const std::string& basic_password_file,
                                     const std::string& bearer_token_file, std::string* error) {
  if (!bearer_token_file.empty()) {
    auto token = config::read_secret_file(bearer_token_file);
    if (!token || token->empty()) {
      if (error != nullptr) *error = "cannot read a token from " + bearer_token_file;
      return {};
    }
    return "Bearer " + *token;
  }
  if (!basic_user.empty()) {
    auto password = config::read_secret_file(basic_password_file);
    if (!password) {
      if (error != nullptr) *error = "cannot read the password file " + basic_password_file;
      return {};
    }
    return basic_authorization(basic_user, *password);
  }
  return {};
}

}  // namespace pgvigil
