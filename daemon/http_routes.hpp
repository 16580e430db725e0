#pragma once
// The HTTP routing table as a pure function from request to response: no
// sockets here, so every rule (methods, paths, HEAD, gzip, errors) is testable
// without a server. Only Beast's message types are needed, not its I/O.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/response_body.hpp"

namespace pgvigil::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<ResponseTextBody>;

// What a route handler returns; the router turns it into a full Response.
struct RouteReply {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  bool compressible = false;                                 // gzip when the client accepts it
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
  // Instead of `body`: a buffer the handler's cache keeps, as the cache
  // delivers it (at once, or once a worker has assembled it; taken as
  // non-empty), and the cache's gzip of it, asked for only when the client
  // accepts gzip (the router then compresses nothing itself). Either makes
  // the response's body deferred (ResponseText::defer).
  ResponseText::Producer plain_body;
  ResponseText::Producer gzipped_body;
};

// Called for GET and HEAD alike (HEAD drops the body afterwards). May throw:
// the client then gets a generic 500 and the exception text stays private.
using RouteHandler = std::function<RouteReply(const Request&)>;

// The value of ?name=... in a request target, "" when absent (no
// percent-decoding: alert and target names need none).
std::string query_parameter(std::string_view target, std::string_view name);

class Router {
 public:
  // Registers `handler` for the exact path (no query string); a second
  // registration of the same path replaces the first.
  void add(std::string path, RouteHandler handler);

  // 400 for a target that does not start with "/", 405 (Allow: GET, HEAD) for
  // other methods, 404 for unknown paths, 500 when the handler throws or
  // replies with an invalid status or header. Never throws for a bad request.
  // A cached gzip comes as a deferred body without Content-Length: the caller
  // resolves it (the HTTP server does; see resolve_deferred_body).
  Response handle(const Request& request) const;

 private:
  std::map<std::string, RouteHandler, std::less<>> routes_;
};

// Fits a handler's response to its request: the request's HTTP version, a
// Content-Length (HEAD: the length of the body it does not get), keep-alive
// only when the request, the response and `may_keep_alive` all allow it.
void fit_response(const Request& request, Response& response, bool may_keep_alive = true);

// Runs a deferred body's producer; `done` gets the response with its body in
// place, or a 500 when the producer failed (threw or delivered nothing). Calls
// `done` at once when the body was not deferred or the producer delivers
// synchronously (a cached gzip).
void resolve_deferred_body(const Request& request, Response response,
                           std::function<void(Response)> done);

}  // namespace pgvigil::http
