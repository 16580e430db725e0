// /metrics as a cache: a body is built only when the sources' version moved,
// compressed once per body off the loop, and the router serves the cached
// gzip. The loop and the compressor thread are two io_contexts the test runs
// by hand, so every hand-over is visible.
#include "daemon/metrics_exposition.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http_routes.hpp"

namespace {

using pgvigil::MetricsExposition;
using Buffer = std::shared_ptr<const std::string>;

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

// The daemon's loop and its compressor thread, driven by hand.
struct Threads {
  boost::asio::io_context loop;
  boost::asio::io_context compressor;
  // Runs what is queued on the compressor, then what it handed to the loop.
  void settle() {
    compressor.restart();
    compressor.poll();
    loop.restart();
    loop.poll();
  }
};

// A one-step build, as a small fleet's: assembled at once, on the loop.
template <typename Fill>
MetricsExposition::Build build_of(Fill fill) {
  return [fill] { return MetricsExposition::Assemble(fill); };
}

// The body plain() delivers, which must come at once.
Buffer plain_now(MetricsExposition& exposition, std::uint64_t version) {
  Buffer body;
  bool delivered = false;
  exposition.plain(version, [&](Buffer buffer) {
    body = std::move(buffer);
    delivered = true;
  });
  REQUIRE(delivered);
  return body;
}

// Records what a delivery received.
struct Received {
  std::vector<Buffer> buffers;
  MetricsExposition::Delivery delivery() {
    return [this](Buffer buffer) { buffers.push_back(std::move(buffer)); };
  }
};

}  // namespace

TEST_CASE("metrics exposition: built once per version, shared between requests") {
  int round = 1;
  int builds = 0;
  Threads threads;
  MetricsExposition exposition(build_of([&](std::string& out) {
                                 ++builds;
                                 out += sample_body(round);
                               }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  auto first = plain_now(exposition, 1);
  auto again = plain_now(exposition, 1);
  CHECK(builds == 1);
  CHECK(first.get() == again.get());  // the same buffer, not a copy
  CHECK(*first == sample_body(1));

  round = 2;
  auto second = plain_now(exposition, 2);
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
  auto third = plain_now(exposition, 3);
  CHECK(*third == sample_body(3));
  CHECK(third->data() == buffer);
  auto held = third;  // a response still sending: the next body gets its own
  round = 4;
  auto fourth = plain_now(exposition, 4);
  CHECK(*fourth == sample_body(4));
  CHECK(*held == sample_body(3));
  CHECK(fourth->data() != held->data());
}

TEST_CASE("metrics exposition: paced, a body is reused for share x its build time, gzip too") {
  using namespace std::chrono_literals;
  int round = 1;
  int builds = 0;
  MetricsExposition::Clock::time_point now{};
  Threads threads;
  MetricsExposition exposition(build_of([&](std::string& out) {
                                 ++builds;
                                 now += 30ms;  // the build "takes" 30 ms of the manual clock
                                 out += sample_body(round);
                               }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  exposition.pace_builds([&] { return now; }, 10);
  CHECK(*plain_now(exposition, 1) == sample_body(1));  // built at 0-30 ms: reused until 330 ms
  round = 2;
  now += 200ms;
  CHECK(*plain_now(exposition, 2) == sample_body(1));  // sources moved, but within the window
  CHECK(builds == 1);
  Received gz;
  exposition.gzipped(2, gz.delivery());
  threads.settle();
  REQUIRE(gz.buffers.size() == 1);
  CHECK(gunzip(*gz.buffers[0]) == sample_body(1));  // of the body served, not a newer one
  CHECK(builds == 1);
  Received again;
  exposition.gzipped(3, again.delivery());  // still within the window: the same gzip, at once
  REQUIRE(again.buffers.size() == 1);
  CHECK(again.buffers[0].get() == gz.buffers[0].get());
  CHECK(exposition.compressions() == 1);

  now += 100ms;  // 330 ms: the window is over
  CHECK(*plain_now(exposition, 3) == sample_body(2));
  CHECK(builds == 2);
  // Nothing moved: reused however long after.
  now += 1h;
  CHECK(*plain_now(exposition, 3) == sample_body(2));
  CHECK(builds == 2);
  // A cheap build has a short window.
  MetricsExposition cheap(build_of([&](std::string& out) { out += sample_body(round); }),
                          threads.loop.get_executor(), threads.compressor.get_executor());
  cheap.pace_builds([&] { return now; }, 10);  // builds take no time on this clock
  plain_now(cheap, 1);
  round = 5;
  CHECK(*plain_now(cheap, 2) == sample_body(5));
}

TEST_CASE(
    "metrics exposition: a costly body is assembled on the worker, young ones served meanwhile") {
  using namespace std::chrono_literals;
  int round = 1;
  int gathered = 0;
  int assembled = 0;
  MetricsExposition::Clock::time_point now{};
  Threads threads;
  // As the daemon's: the sources are taken hold of at the call (the round's
  // value), the assembly "takes" 30 ms wherever it runs.
  MetricsExposition exposition(
      [&] {
        ++gathered;
        return MetricsExposition::Assemble([&, held = round](std::string& out) {
          ++assembled;
          now += 30ms;
          out += sample_body(held);
        });
      },
      threads.loop.get_executor(), threads.compressor.get_executor());
  exposition.pace_builds([&] { return now; }, 10);
  exposition.assemble_off_loop(5ms, 1s);
  // The first body: nothing to serve meanwhile, so it is built here.
  CHECK(*plain_now(exposition, 1) == sample_body(1));
  CHECK(assembled == 1);

  // 400 ms later the pacing window (300 ms) is over and the sources moved:
  // the assembly goes to the worker, the 400 ms old body is served at once.
  now += 400ms;
  round = 2;
  CHECK(*plain_now(exposition, 2) == sample_body(1));
  CHECK(gathered == 2);
  CHECK(assembled == 1);                               // not on the loop
  round = 3;                                           // moves after the sources were taken hold of
  CHECK(*plain_now(exposition, 3) == sample_body(1));  // no second assembly meanwhile
  CHECK(gathered == 2);
  CHECK(exposition.builds() == 1);
  threads.settle();
  CHECK(assembled == 2);
  CHECK(exposition.builds() == 2);
  CHECK(*plain_now(exposition, 2) == sample_body(2));  // of the moment it was asked for

  // A body older than max_age is not served while a new one is assembled:
  // the request waits for it, and so does a gzip request. Held by no
  // response, its buffer is the new body's.
  const auto* old_buffer = plain_now(exposition, 2)->data();
  now += 2s;
  Received waiting;
  exposition.plain(3, waiting.delivery());
  Received zipped;
  exposition.gzipped(3, zipped.delivery());
  CHECK(waiting.buffers.empty());
  CHECK(zipped.buffers.empty());
  threads.settle();  // assembled; the gzip's deflate is queued
  REQUIRE(waiting.buffers.size() == 1);
  CHECK(*waiting.buffers[0] == sample_body(3));
  CHECK(waiting.buffers[0]->data() == old_buffer);
  threads.settle();
  REQUIRE(zipped.buffers.size() == 1);
  CHECK(gunzip(*zipped.buffers[0]) == sample_body(3));
  CHECK(assembled == 3);

  // Gone while its assembly is on the worker: nothing is delivered.
  Received orphan;
  {
    int cost = 0;
    MetricsExposition gone(
        [&] {
          return MetricsExposition::Assemble([&](std::string& out) {
            now += 30ms;
            out += sample_body(++cost);
          });
        },
        threads.loop.get_executor(), threads.compressor.get_executor());
    gone.pace_builds([&] { return now; }, 1);
    gone.assemble_off_loop(5ms, 0ms);
    plain_now(gone, 1);
    now += 1s;
    gone.plain(2, orphan.delivery());
    CHECK(orphan.buffers.empty());
  }
  threads.settle();
  CHECK(orphan.buffers.empty());
}

TEST_CASE("metrics exposition: gzip once per body, on the compressor, never on the loop") {
  int round = 1;
  Threads threads;
  MetricsExposition exposition(build_of([&](std::string& out) { out += sample_body(round); }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  Received first;
  Received second;
  exposition.gzipped(1, first.delivery());
  exposition.gzipped(1, second.delivery());  // joins the compression under way
  // Nothing compressed on the calling thread: the work waits on the compressor.
  CHECK(first.buffers.empty());
  CHECK(exposition.compressions() == 0);
  threads.settle();
  REQUIRE(first.buffers.size() == 1);
  REQUIRE(second.buffers.size() == 1);
  REQUIRE(first.buffers[0] != nullptr);
  CHECK(first.buffers[0].get() == second.buffers[0].get());
  CHECK(gunzip(*first.buffers[0]) == sample_body(1));
  CHECK(first.buffers[0]->size() < sample_body(1).size() / 4);
  CHECK(exposition.compressions() == 1);

  // Cached: delivered at once, the same buffer, no new work.
  Received cached;
  exposition.gzipped(1, cached.delivery());
  REQUIRE(cached.buffers.size() == 1);
  CHECK(cached.buffers[0].get() == first.buffers[0].get());

  // A new version compresses again, from the reset deflate state.
  round = 2;
  Received next;
  exposition.gzipped(2, next.delivery());
  CHECK(next.buffers.empty());
  threads.settle();
  REQUIRE(next.buffers.size() == 1);
  CHECK(gunzip(*next.buffers[0]) == sample_body(2));
  CHECK(exposition.compressions() == 2);
  CHECK(exposition.builds() == 2);
}

TEST_CASE("metrics exposition: a request during a compression waits for it, not for a new one") {
  int round = 1;
  Threads threads;
  MetricsExposition exposition(build_of([&](std::string& out) { out += sample_body(round); }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  Received early;
  exposition.gzipped(1, early.delivery());
  // The sources move while the compressor works: the late request gets the
  // body being compressed, and neither a build nor a second deflate starts.
  round = 2;
  Received late;
  exposition.gzipped(2, late.delivery());
  CHECK(exposition.builds() == 1);
  threads.settle();
  REQUIRE(late.buffers.size() == 1);
  CHECK(late.buffers[0].get() == early.buffers.at(0).get());
  CHECK(gunzip(*late.buffers[0]) == sample_body(1));
  CHECK(exposition.compressions() == 1);
  // The next request for version 2 compresses version 2.
  Received after;
  exposition.gzipped(2, after.delivery());
  threads.settle();
  REQUIRE(after.buffers.size() == 1);
  CHECK(gunzip(*after.buffers[0]) == sample_body(2));
  CHECK(exposition.compressions() == 2);
  CHECK(exposition.builds() == 2);
}

TEST_CASE("metrics exposition: the plain body is not rebuilt in a buffer the compressor reads") {
  int round = 1;
  Threads threads;
  MetricsExposition exposition(build_of([&](std::string& out) { out += sample_body(round); }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  Received zipped;
  exposition.gzipped(1, zipped.delivery());
  const auto* compressing = plain_now(exposition, 1)->data();
  round = 2;
  // No response holds version 1 any more, but the compressor does.
  auto rebuilt = plain_now(exposition, 2);
  CHECK(rebuilt->data() != compressing);
  threads.settle();
  CHECK(gunzip(*zipped.buffers.at(0)) == sample_body(1));
}

TEST_CASE("metrics exposition: gone before its compression finished, it delivers nothing") {
  Threads threads;
  Received waiting;
  {
    MetricsExposition exposition(build_of([](std::string& out) { out += sample_body(1); }),
                                 threads.loop.get_executor(), threads.compressor.get_executor());
    exposition.gzipped(1, waiting.delivery());
  }
  threads.settle();  // the compression runs and hands back to a closed cache
  CHECK(waiting.buffers.empty());
}

TEST_CASE("metrics exposition: the router defers to the cache's gzip and never compresses itself") {
  using namespace pgvigil::http;
  std::uint64_t version = 1;
  Threads threads;
  MetricsExposition exposition(build_of([](std::string& out) { out += sample_body(7); }),
                               threads.loop.get_executor(), threads.compressor.get_executor());
  Router router;
  router.add("/metrics", [&](const Request&) {
    RouteReply reply;
    reply.content_type = "text/plain; version=0.0.4";
    reply.plain_body = [&](ResponseText::Delivery deliver) {
      exposition.plain(version, std::move(deliver));
    };
    reply.gzipped_body = [&](ResponseText::Delivery deliver) {
      exposition.gzipped(version, std::move(deliver));
    };
    reply.compressible = true;
    return reply;
  });
  // What the HTTP server does with a response: resolve its body, then send.
  const auto serve = [&](const Request& request) {
    std::vector<Response> sent;
    resolve_deferred_body(request, router.handle(request),
                          [&](Response response) { sent.push_back(std::move(response)); });
    threads.settle();
    REQUIRE(sent.size() == 1);
    return std::move(sent.front());
  };
  Request plain{beast_http::verb::get, "/metrics", 11};
  Request zipped = plain;
  zipped.set(beast_http::field::accept_encoding, "gzip");
  for (int i = 0; i < 5; ++i) {
    const auto a = serve(plain);
    CHECK(a.body() == sample_body(7));
    // The response points into the cache's buffer: no copy per request.
    CHECK(a.body().is_shared());
    CHECK(a.body().data() == plain_now(exposition, version)->data());
    CHECK(a[beast_http::field::content_encoding].empty());
    const auto deferred = router.handle(zipped);
    CHECK(deferred.body().is_deferred());
    const auto b = serve(zipped);
    CHECK(b[beast_http::field::content_encoding] == "gzip");
    CHECK(b[beast_http::field::vary] == "Accept-Encoding");
    CHECK(b[beast_http::field::content_length] == std::to_string(b.body().size()));
    CHECK(gunzip(b.body()) == sample_body(7));
  }
  CHECK(exposition.builds() == 1);
  CHECK(exposition.compressions() == 1);
  version = 2;
  serve(plain);
  CHECK(exposition.compressions() == 1);  // nobody asked for gzip of version 2 yet
  // HEAD: the length of the gzip, no body.
  Request head{beast_http::verb::head, "/metrics", 11};
  head.set(beast_http::field::accept_encoding, "gzip");
  const auto h = serve(head);
  CHECK(exposition.compressions() == 2);
  CHECK(h.body().empty());
  const auto g = serve(zipped);
  CHECK(h[beast_http::field::content_length] == std::to_string(g.body().size()));
}

TEST_CASE("metrics exposition: a producer that fails or delivers nothing gives a 500") {
  using namespace pgvigil::http;
  Request request{beast_http::verb::get, "/metrics", 11};
  for (const bool throws : {true, false}) {
    Response response{beast_http::status::ok, 11};
    response.body().defer([throws](ResponseText::Delivery deliver) {
      if (throws) throw std::runtime_error("no memory");
      deliver(nullptr);
    });
    std::vector<Response> sent;
    resolve_deferred_body(request, std::move(response),
                          [&](Response ready) { sent.push_back(std::move(ready)); });
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].result_int() == 500);
    CHECK(sent[0][beast_http::field::content_length] == std::to_string(sent[0].body().size()));
  }
}
