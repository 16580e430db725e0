#include "daemon/http_routes.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <stdexcept>
#include <string>

namespace {

namespace bhttp = boost::beast::http;
using pgvigil::http::Request;
using pgvigil::http::Response;
using pgvigil::http::Router;
using pgvigil::http::RouteReply;

Request make_request(bhttp::verb method, std::string target) {
  Request request{method, target, 11};
  request.set(bhttp::field::host, "localhost");
  return request;
}

std::string field(const Response& response, bhttp::field name) {
  const auto value = response[name];
  return std::string(value.data(), value.size());
}

std::string field(const Response& response, const char* name) {
  const auto value = response[name];
  return std::string(value.data(), value.size());
}

std::string gunzip(std::string_view compressed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out(compressed.size() * 50 + 1024, '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int status = inflate(&zs, Z_FINISH);
  out.resize(out.size() - zs.avail_out);
  inflateEnd(&zs);
  REQUIRE(status == Z_STREAM_END);
  return out;
}

std::string metrics_text() {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "pg_up{db=\"d" + std::to_string(i) + "\"} 1\n";
  return text;
}

Router make_router() {
  Router router;
  router.add("/metrics", [](const Request&) {
    return RouteReply{200, "text/plain; version=0.0.4", metrics_text(), true, {}, {}, {}};
  });
  router.add("/healthz", [](const Request&) {
    return RouteReply{503, "text/plain", "not ready\n", false, {{"Retry-After", "5"}}, {}, {}};
  });
  router.add("/echo", [](const Request& request) {
    const auto target = request.target();
    return RouteReply{200, "text/plain", std::string(target.data(), target.size()), false, {}, {},
                      {}};
  });
  router.add("/boom", [](const Request&) -> RouteReply {
    throw std::runtime_error("password=hunter2 leaked");
  });
  router.add("/bad-header", [](const Request&) {
    return RouteReply{200, "text/plain", "x", false, {{"X-Evil", "a\r\nSet-Cookie: x=1"}}, {}, {}};
  });
  router.add("/bad-status",
             [](const Request&) { return RouteReply{42, "text/plain", "x", false, {}, {}, {}}; });
  return router;
}

}  // namespace

TEST_CASE("router answers GET with the handler's status, type, body and headers") {
  const Router router = make_router();
  const Response ok = router.handle(make_request(bhttp::verb::get, "/metrics"));
  CHECK(ok.result_int() == 200);
  CHECK(field(ok, bhttp::field::content_type) == "text/plain; version=0.0.4");
  CHECK(ok.body() == metrics_text());
  CHECK(field(ok, bhttp::field::content_length) == std::to_string(metrics_text().size()));
  CHECK(field(ok, bhttp::field::content_encoding).empty());

  const Response unavailable = router.handle(make_request(bhttp::verb::get, "/healthz"));
  CHECK(unavailable.result_int() == 503);
  CHECK(field(unavailable, "Retry-After") == "5");
  CHECK(unavailable.body() == "not ready\n");
}

TEST_CASE("router matches the path exactly and ignores the query string") {
  const Router router = make_router();
  const Response with_query = router.handle(make_request(bhttp::verb::get, "/echo?a=1&b=2"));
  CHECK(with_query.result_int() == 200);
  CHECK(with_query.body() == "/echo?a=1&b=2");  // the handler still sees the full target

  CHECK(router.handle(make_request(bhttp::verb::get, "/echo/")).result_int() == 404);
  CHECK(router.handle(make_request(bhttp::verb::get, "/ECHO")).result_int() == 404);
  CHECK(router.handle(make_request(bhttp::verb::get, "/nope")).result_int() == 404);
  CHECK(router.handle(make_request(bhttp::verb::get, "/")).result_int() == 404);
}

TEST_CASE("router rejects other methods with 405 and Allow") {
  const Router router = make_router();
  for (const auto method : {bhttp::verb::post, bhttp::verb::put, bhttp::verb::delete_,
                            bhttp::verb::options, bhttp::verb::patch}) {
    const Response response = router.handle(make_request(method, "/metrics"));
    CHECK(response.result_int() == 405);
    CHECK(field(response, bhttp::field::allow) == "GET, HEAD");
  }
}

TEST_CASE("router rejects targets that do not start with a slash") {
  const Router router = make_router();
  CHECK(router.handle(make_request(bhttp::verb::get, "metrics")).result_int() == 400);
  CHECK(router.handle(make_request(bhttp::verb::get, "http://host/metrics")).result_int() == 400);
  CHECK(router.handle(make_request(bhttp::verb::get, "*")).result_int() == 400);
}

TEST_CASE("HEAD returns GET's headers and length without a body") {
  const Router router = make_router();
  const Response get = router.handle(make_request(bhttp::verb::get, "/metrics"));
  const Response head = router.handle(make_request(bhttp::verb::head, "/metrics"));
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
  CHECK(field(head, bhttp::field::content_length) == field(get, bhttp::field::content_length));
  CHECK(field(head, bhttp::field::content_type) == field(get, bhttp::field::content_type));

  Request gzip_head = make_request(bhttp::verb::head, "/metrics");
  gzip_head.set(bhttp::field::accept_encoding, "gzip");
  Request gzip_get = make_request(bhttp::verb::get, "/metrics");
  gzip_get.set(bhttp::field::accept_encoding, "gzip");
  const Response compressed_head = router.handle(gzip_head);
  const Response compressed_get = router.handle(gzip_get);
  CHECK(compressed_head.body().empty());
  CHECK(field(compressed_head, bhttp::field::content_encoding) == "gzip");
  CHECK(field(compressed_head, bhttp::field::content_length) ==
        std::to_string(compressed_get.body().size()));
}

TEST_CASE("router gzips compressible routes when the client accepts it") {
  const Router router = make_router();
  Request request = make_request(bhttp::verb::get, "/metrics");
  request.set(bhttp::field::accept_encoding, "br, gzip;q=0.8");
  const Response compressed = router.handle(request);
  CHECK(field(compressed, bhttp::field::content_encoding) == "gzip");
  CHECK(field(compressed, bhttp::field::vary) == "Accept-Encoding");
  CHECK(field(compressed, bhttp::field::content_length) ==
        std::to_string(compressed.body().size()));
  CHECK(compressed.body().size() < metrics_text().size());
  CHECK(gunzip(compressed.body()) == metrics_text());

  SUBCASE("q=0 refuses gzip") {
    request.set(bhttp::field::accept_encoding, "gzip;q=0, identity");
    const Response plain = router.handle(request);
    CHECK(field(plain, bhttp::field::content_encoding).empty());
    CHECK(field(plain, bhttp::field::vary) == "Accept-Encoding");
    CHECK(plain.body() == metrics_text());
  }
  SUBCASE("no Accept-Encoding, no gzip") {
    request.erase(bhttp::field::accept_encoding);
    CHECK(router.handle(request).body() == metrics_text());
  }
  SUBCASE("several Accept-Encoding fields are combined") {
    request.erase(bhttp::field::accept_encoding);
    request.insert(bhttp::field::accept_encoding, "br");
    request.insert(bhttp::field::accept_encoding, "gzip");
    CHECK(field(router.handle(request), bhttp::field::content_encoding) == "gzip");
  }
  SUBCASE("routes that are not compressible stay plain") {
    Request echo = make_request(bhttp::verb::get, "/echo");
    echo.set(bhttp::field::accept_encoding, "gzip");
    const Response plain = router.handle(echo);
    CHECK(field(plain, bhttp::field::content_encoding).empty());
    CHECK(field(plain, bhttp::field::vary).empty());
    CHECK(plain.body() == "/echo");
  }
}

TEST_CASE("a throwing or misbehaving handler gives a generic 500") {
  const Router router = make_router();
  const Response thrown = router.handle(make_request(bhttp::verb::get, "/boom"));
  CHECK(thrown.result_int() == 500);
  CHECK(thrown.body().find("hunter2") == std::string::npos);
  CHECK(thrown.body().find("password") == std::string::npos);
  CHECK_FALSE(thrown.body().empty());

  const Response header = router.handle(make_request(bhttp::verb::get, "/bad-header"));
  CHECK(header.result_int() == 500);
  CHECK(field(header, bhttp::field::set_cookie).empty());
  CHECK(field(header, "X-Evil").empty());

  CHECK(router.handle(make_request(bhttp::verb::get, "/bad-status")).result_int() == 500);
  // The router keeps working after a failure.
  CHECK(router.handle(make_request(bhttp::verb::get, "/echo")).result_int() == 200);
}

TEST_CASE("keep-alive follows the request") {
  const Router router = make_router();
  Request keep = make_request(bhttp::verb::get, "/echo");
  CHECK(router.handle(keep).keep_alive());
  keep.keep_alive(false);
  CHECK_FALSE(router.handle(keep).keep_alive());
  CHECK(router.handle(make_request(bhttp::verb::get, "/nope")).keep_alive());  // errors too

  Request http10{bhttp::verb::get, "/echo", 10};
  const Response old = router.handle(http10);
  CHECK(old.version() == 10);
  CHECK_FALSE(old.keep_alive());
  http10.keep_alive(true);
  CHECK(router.handle(http10).keep_alive());
}

TEST_CASE("a later add replaces the handler for the same path") {
  Router router;
  router.add("/x", [](const Request&) {
    return RouteReply{200, "text/plain", "first", false, {}, {}, {}};
  });
  router.add("/x", [](const Request&) {
    return RouteReply{200, "text/plain", "second", false, {}, {}, {}};
  });
  CHECK(router.handle(make_request(bhttp::verb::get, "/x")).body() == "second");
}
