// libFuzzer harness: raw bytes from a client -> Beast's request parser with
// the server's limits -> the basic-auth decision (header parsing, the
// verification cache) -> the Router with a small fixed set of routes shaped
// like the daemon's -> the response serialised as the server would send it.
// bcrypt itself is not run (50-100 ms a call): the harness decides the
// password check from the parsed password.
#include <spdlog/spdlog.h>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http_auth.hpp"
#include "daemon/http_routes.hpp"
#include "daemon/pages.hpp"
#include "daemon/status_page.hpp"

namespace {

namespace beast = boost::beast;
namespace http = pgvigil::http;

// daemon/http_server.hpp's defaults.
constexpr std::uint32_t kHeaderLimit = 8192;
constexpr std::uint64_t kBodyLimit = 16384;

// Shaped like a bcrypt hash; never verified here (see above).
constexpr std::string_view kHash = "$2b$10$k7zPqV8y0mJtH3HbP6m2zOEn7A5nS8d3u1xq3mUqk8F0z6jv4lD8G";
constexpr std::string_view kPassword = "secret";

std::vector<pgvigil::TargetView> fake_targets() {
  return {{"db", true, "none", "", "15.4", "primary", {"activity", "locks"}},
          {"replica <1>", false, "connection_refused", "could not connect: \"x\" & y", "", "", {}}};
}

std::vector<pgvigil::AlertView> fake_alerts(const http::Request& request) {
  const std::string_view target(request.target().data(), request.target().size());
  const std::string only_alert = http::query_parameter(target, "alertname");
  const std::string only_target = http::query_parameter(target, "target");
  std::vector<pgvigil::AlertView> all(2);
  all[0].alertname = "PostgresDown";
  all[0].state = "firing";
  all[0].severity = "critical";
  all[0].target = "db";
  all[0].labels = {{"target", "db"}, {"env", "<prod>"}};
  all[0].summary = "db is down";
  all[0].evidence = "FATAL:  the database system is shutting down";
  all[0].active_at = "2026-12-03T10:00:00Z";
  all[1].alertname = "PostgresTooManyConnections";
  all[1].state = "pending";
  all[1].target = "replica <1>";
  all[1].value = 0.97;
  std::vector<pgvigil::AlertView> views;
  for (auto& alert : all) {
    if (!only_alert.empty() && alert.alertname != only_alert) continue;
    if (!only_target.empty() && alert.target != only_target) continue;
    views.push_back(std::move(alert));
  }
  return views;
}

http::RouteReply text_reply(unsigned status, std::string body, bool compressible) {
  http::RouteReply reply;
  reply.status = status;
  reply.content_type = "text/plain; charset=utf-8";
  reply.body = std::move(body);
  reply.compressible = compressible;
  return reply;
}

// The daemon's routes (daemon/app.cpp build_routes) over fixed state.
const http::Router& router() {
  static const http::Router instance = [] {
    http::Router r;
    r.add("/metrics", [](const http::Request&) {
      auto reply = text_reply(200,
                              "# HELP pg_up Whether the server answers.\n# TYPE pg_up gauge\n"
                              "pg_up{target=\"db\"} 1\n",
                              true);
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return reply;
    });
    r.add("/runbooks/PostgresDown.md", [](const http::Request&) {
      return text_reply(200, "# PostgresDown\n\nThe server does not answer.\n", true);
    });
    r.add("/health", [](const http::Request&) { return text_reply(200, "ok\n", false); });
    r.add("/ready", [](const http::Request&) {
      return text_reply(503, "waiting for the first round of probes\n", false);
    });
    r.add("/", [](const http::Request& request) {
      http::RouteReply reply;
      reply.content_type = "text/html; charset=utf-8";
      pgvigil::StatusPage page;
      page.now_unix = 1764756000;
      for (auto& target : fake_targets()) {
        pgvigil::TargetStatus status;
        status.target = std::move(target);
        status.since_unix = 1764755000;
        status.replication_lag_seconds = 2.5;
        page.targets.push_back(std::move(status));
      }
      page.alerts = fake_alerts(request);
      reply.body = pgvigil::render_status_page(page);
      reply.compressible = true;
      return reply;
    });
    r.add("/api/v1/alerts", [](const http::Request& request) {
      http::RouteReply reply;
      reply.content_type = "application/json";
      reply.body = pgvigil::render_alerts_json(fake_alerts(request));
      reply.compressible = true;
      return reply;
    });
    r.add("/api/v1/targets", [](const http::Request&) {
      http::RouteReply reply;
      reply.content_type = "application/json";
      reply.body = pgvigil::render_targets_json(fake_targets());
      reply.compressible = true;
      return reply;
    });
    // The router's own guards: a throwing handler, a handler's extra headers.
    r.add("/throws", [](const http::Request&) -> http::RouteReply {
      throw std::runtime_error("handler failed");
    });
    r.add("/headers", [](const http::Request&) {
      auto reply = text_reply(204, "dropped", true);
      reply.headers = {{"X-Test", "1"}, {"Content-Length", "99"}};
      return reply;
    });
    return r;
  }();
  return instance;
}

std::string_view view(beast::string_view text) {
  return {text.data(), text.size()};
}

// What the server does after the handler (http_server.cpp respond()), then
// the bytes it would write.
void serialise(const http::Request& request, http::Response response) {
  http::fit_response(request, response);
  beast::http::response_serializer<http::ResponseTextBody> serializer(response);
  beast::error_code ec;
  std::size_t bytes = 0;
  do {
    serializer.next(ec, [&](beast::error_code&, const auto& buffers) {
      const std::size_t n = beast::buffer_bytes(buffers);
      bytes += beast::buffers_to_string(buffers).size();
      serializer.consume(n);
    });
  } while (!ec && !serializer.is_done());
  if (bytes == 0) __builtin_trap();  // a status line is always written
}

// The client closed: what beast::http::read does then.
void eof(beast::http::request_parser<beast::http::string_body>& parser, beast::error_code& ec) {
  if (parser.got_some()) {
    parser.put_eof(ec);
  } else {
    ec = beast::http::error::end_of_stream;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  (void)router();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  beast::http::request_parser<beast::http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  parser.eager(true);

  // The client sends the bytes in one piece and closes: one put() over all
  // of them, as beast::http::read does with a full buffer, then the end of
  // the stream if the parser wants more (put() is never called again without
  // new bytes, which Beast's read never does either). What the parser leaves
  // after a complete message is the next pipelined request, ignored here.
  // Not modelled: the same bytes in several reads. Boost 1.74's parser then
  // trips a debug-only assertion on "0\r\n" + "\r" (parse_chunk_header,
  // `n >= 5`; boostorg/beast#2861), harmless with NDEBUG.
  beast::flat_buffer buffer;
  const auto room = buffer.prepare(size);
  if (size != 0) std::memcpy(room.data(), data, size);
  buffer.commit(size);
  beast::error_code ec;
  const std::size_t used = size == 0 ? 0 : parser.put(buffer.data(), ec);
  buffer.consume(used);
  if (size == 0 || ec == beast::http::error::need_more) {
    ec = {};
    eof(parser, ec);
  }
  if (ec || !parser.is_done()) return 0;  // the server answers 400/413/431 or closes
  const http::Request request = parser.release();

  http::BasicAuthenticator auth({{"admin", std::string(kHash)}, {"other", std::string(kHash)}},
                                /*exempt_health=*/true);
  const auto now = http::BasicAuthenticator::Clock::time_point{} + std::chrono::hours(1);
  const std::string_view target = view(request.target());
  const std::string_view authorization = view(request[beast::http::field::authorization]);
  (void)http::is_health_path(target);
  auto decision = auth.check(target, authorization, now);
  if (decision.kind == http::AuthDecision::Kind::verify) {
    const bool matches = decision.password == kPassword;
    const bool allowed = auth.finish(decision, matches, now);
    http::wipe(decision.password);
    if (allowed) {
      // A success is cached: the same credentials pass without bcrypt.
      const auto again = auth.check(target, authorization, now + std::chrono::seconds(1));
      if (again.kind != http::AuthDecision::Kind::allow) __builtin_trap();
    }
  }

  http::Response response = router().handle(request);
  serialise(request, std::move(response));
  return 0;
}
