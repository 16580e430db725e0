// /metrics as a cache: a body is built only when the sources' version moved,
// compressed once per body, and the router serves the cached gzip.
#include "daemon/metrics_exposition.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <string>
#include <string_view>

#include "daemon/http_routes.hpp"

namespace {

using pgvigil::MetricsExposition;

std::string gunzip(std::string_view data) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  std::string out(data.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int status = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  CHECK(status == Z_STREAM_END);
  return out;
}

std::string sample_body(int round) {
  std::string body;
  for (int i = 0; i < 200; ++i)
    body += "pg_up{target=\"db" + std::to_string(i) + "\"} " + std::to_string(round) + "\n";
  return body;
}

}  // namespace

TEST_CASE("metrics exposition: built once per version, shared between requests") {
  int round = 1;
  int builds = 0;
  MetricsExposition exposition([&](std::string& out) {
    ++builds;
    out += sample_body(round);
  });
  auto first = exposition.plain(1);
  auto again = exposition.plain(1);
  CHECK(builds == 1);
  CHECK(first.get() == again.get());  // the same buffer, not a copy
  CHECK(*first == sample_body(1));

  round = 2;
  auto second = exposition.plain(2);
  CHECK(builds == 2);
  CHECK(*second == sample_body(2));
  CHECK(*first == sample_body(1));  // a response still sending the old body keeps it
  CHECK(exposition.builds() == 2);

  // Once no response holds the body, the next one is built in its buffer.
  first.reset();
  again.reset();
  const auto* buffer = second->data();
  second.reset();
  round = 3;
  auto third = exposition.plain(3);
  CHECK(*third == sample_body(3));
  CHECK(third->data() == buffer);
  auto held = third;  // a response still sending: the next body gets its own
  round = 4;
  auto fourth = exposition.plain(4);
  CHECK(*fourth == sample_body(4));
  CHECK(*held == sample_body(3));
  CHECK(fourth->data() != held->data());
}

TEST_CASE("metrics exposition: gzip once per body, with one deflate state") {
  int round = 1;
  MetricsExposition exposition([&](std::string& out) { out += sample_body(round); });
  auto zipped = exposition.gzipped(1);
  CHECK(exposition.gzipped(1).get() == zipped.get());
  CHECK(exposition.compressions() == 1);
  CHECK(gunzip(*zipped) == sample_body(1));
  CHECK(zipped->size() < sample_body(1).size() / 4);
  round = 2;
  CHECK(gunzip(*exposition.gzipped(2)) == sample_body(2));  // the reset state starts clean
  CHECK(exposition.compressions() == 2);
  CHECK(exposition.builds() == 2);
}

TEST_CASE("metrics exposition: the router serves the cache's gzip and never compresses itself") {
  using namespace pgvigil::http;
  std::uint64_t version = 1;
  MetricsExposition exposition([](std::string& out) { out += sample_body(7); });
  Router router;
  router.add("/metrics", [&](const Request&) {
    RouteReply reply;
    reply.content_type = "text/plain; version=0.0.4";
    reply.shared_body = exposition.plain(version);
    reply.gzipped_body = [&] { return exposition.gzipped(version); };
    reply.compressible = true;
    return reply;
  });
  Request plain{beast_http::verb::get, "/metrics", 11};
  Request zipped = plain;
  zipped.set(beast_http::field::accept_encoding, "gzip");
  for (int i = 0; i < 5; ++i) {
    const auto a = router.handle(plain);
    CHECK(a.body() == sample_body(7));
    // The response points into the cache's buffer: no copy per request.
    CHECK(a.body().is_shared());
    CHECK(a.body().data() == exposition.plain(version)->data());
    CHECK(a[beast_http::field::content_encoding].empty());
    const auto b = router.handle(zipped);
    CHECK(b[beast_http::field::content_encoding] == "gzip");
    CHECK(b[beast_http::field::vary] == "Accept-Encoding");
    CHECK(gunzip(b.body()) == sample_body(7));
  }
  CHECK(exposition.builds() == 1);
  CHECK(exposition.compressions() == 1);
  version = 2;
  router.handle(plain);
  CHECK(exposition.compressions() == 1);  // nobody asked for gzip of version 2 yet
  router.handle(zipped);
  CHECK(exposition.compressions() == 2);
}
