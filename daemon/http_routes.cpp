#include "daemon/http_routes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>

#include "config/text.hpp"
#include "daemon/gzip.hpp"

namespace pgvigil::http {
namespace {

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

// RFC 9110 token characters, the only ones allowed in a header name.
bool is_token(std::string_view name) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

// CR or LF in a value would let a handler split the response.
bool is_safe_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool status_has_no_body(unsigned status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// Headers the router computes itself; a handler's value would contradict them.
bool is_framing_header(std::string_view name) {
  using config::iequals;
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Content-Encoding") || iequals(name, "Connection");
}

std::string joined_accept_encoding(const Request& request) {
  std::string joined;
  for (auto [it, end] = request.equal_range(beast_http::field::accept_encoding); it != end; ++it) {
    if (!joined.empty()) joined += ',';
    joined.append(it->value().data(), it->value().size());
  }
  return joined;
}

// Sets framing fields and keep-alive; last, because keep_alive() rewrites
// Connection according to the version.
void finish(const Request& request, Response& response) {
  const unsigned status = response.result_int();
  if (status_has_no_body(status)) {
    response.body().clear();
    response.erase(beast_http::field::content_length);
  } else if (!response.body().is_deferred()) {  // resolve_deferred_body frames it
    response.content_length(response.body().size());
    if (request.method() == beast_http::verb::head) response.body().clear();
  }
  response.keep_alive(request.keep_alive());
}

Response plain_response(const Request& request, beast_http::status status, std::string_view text) {
  Response response{status, request.version()};
  response.set(beast_http::field::content_type,
               boost::beast::string_view(kPlainText.data(), kPlainText.size()));
  response.body() = std::string(text) + "\n";
  finish(request, response);
  return response;
}

Response internal_error(const Request& request) {
  return plain_response(request, beast_http::status::internal_server_error,
                        "Internal Server Error");
}

}  // namespace

std::string query_parameter(std::string_view target, std::string_view name) {
  auto query = target.find('?');
  if (query == std::string_view::npos) return {};
  std::string_view rest = target.substr(query + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

void Router::add(std::string path, RouteHandler handler) {
  routes_.insert_or_assign(std::move(path), std::move(handler));
}

Response Router::handle(const Request& request) const {
  try {
    const std::string_view target(request.target().data(), request.target().size());
    if (target.empty() || target.front() != '/') {
      return plain_response(request, beast_http::status::bad_request, "Bad Request");
    }
    const auto method = request.method();
    if (method != beast_http::verb::get && method != beast_http::verb::head) {
      Response response =
          plain_response(request, beast_http::status::method_not_allowed, "Method Not Allowed");
      response.set(beast_http::field::allow, "GET, HEAD");
      return response;
    }
    const std::string_view path = target.substr(0, target.find('?'));
    const auto route = routes_.find(path);
    if (route == routes_.end()) {
      return plain_response(request, beast_http::status::not_found, "Not Found");
    }

    RouteReply reply;
    try {
      reply = route->second(request);
    } catch (...) {
      // The exception text is not logged either: it may quote a conninfo or
      // password; the handler logs its own masked details.
      spdlog::error("http: handler for {} failed with an exception", route->first);
      return internal_error(request);
    }
    if (reply.status < 100 || reply.status > 599) {
      spdlog::error("http: handler for {} replied with invalid status {}", route->first,
                    reply.status);
      return internal_error(request);
    }

    Response response;
    response.version(request.version());
    response.result(reply.status);
    for (const auto& [name, value] : reply.headers) {
      if (!is_token(name) || !is_safe_value(value)) {
        spdlog::error("http: handler for {} replied with an invalid header", route->first);
        return internal_error(request);
      }
      if (!is_framing_header(name)) response.insert(name, value);
    }
    if (!reply.content_type.empty()) {
      if (!is_safe_value(reply.content_type)) {
        spdlog::error("http: handler for {} replied with an invalid content type", route->first);
        return internal_error(request);
      }
      response.set(beast_http::field::content_type, reply.content_type);
    }
    const bool cached_gzip = reply.plain_body && reply.gzipped_body;
    if (reply.plain_body) reply.body.clear();
    if (reply.compressible && !status_has_no_body(reply.status)) {
      // Caches must key on Accept-Encoding whether or not this reply is gzipped.
      response.set(beast_http::field::vary, "Accept-Encoding");
      // A cached body without its gzip cannot be compressed here.
      const bool can_gzip = reply.plain_body ? cached_gzip : !reply.body.empty();
      if (can_gzip && accepts_gzip(joined_accept_encoding(request))) {
        if (cached_gzip) {
          response.body().defer(std::move(reply.gzipped_body));
          reply.plain_body = nullptr;
        } else {
          reply.body = gzip_compress(reply.body);
        }
        response.set(beast_http::field::content_encoding, "gzip");
      }
    }
    if (reply.plain_body) {
      response.body().defer(std::move(reply.plain_body));
    } else if (!response.body().is_deferred()) {
      response.body() = std::move(reply.body);
    }
    finish(request, response);
    return response;
  } catch (...) {
    // Only resource exhaustion gets here (allocation, zlib); answer generically.
    spdlog::error("http: failed to build a response");
    return internal_error(request);
  }
}

void resolve_deferred_body(const Request& request, Response response,
                           std::function<void(Response)> done) {
  if (!response.body().is_deferred()) return done(std::move(response));
  auto producer = response.body().take_producer();
  // What framing needs of the request, which may be gone when the body comes.
  Request head{request.method(), request.target(), request.version()};
  head.keep_alive(request.keep_alive());
  // The producer may deliver at once, later, or (having thrown) not at all:
  // whichever of delivery and failure comes first answers, once.
  auto pending = std::make_shared<std::optional<Response>>(std::move(response));
  auto deliver = [pending, done,
                  head = std::move(head)](std::shared_ptr<const std::string> buffer) mutable {
    if (!pending->has_value()) return;
    Response answer = std::move(**pending);
    pending->reset();
    if (!buffer) {
      spdlog::error("http: a response body could not be produced");
      return done(internal_error(head));
    }
    answer.body().share(std::move(buffer));
    finish(head, answer);
    done(std::move(answer));
  };
  try {
    producer(deliver);
  } catch (...) {
    deliver(nullptr);
  }
}

void fit_response(const Request& request, Response& response, bool may_keep_alive) {
  response.version(request.version());
  const bool is_head = request.method() == beast_http::verb::head;
  if (!response.has_content_length() && !response.chunked()) {
    if (is_head) {
      response.content_length(response.body().size());
    } else {
      response.prepare_payload();
    }
  }
  if (is_head) response.body().clear();
  response.keep_alive(request.keep_alive() && response.keep_alive() && may_keep_alive);
}

}  // namespace pgvigil::http
