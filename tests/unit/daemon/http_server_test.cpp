// Speaks real HTTP to the server over loopback. Client and server share one
// io_context on the test thread; every wait is bounded in time and count.
#include "daemon/http_server.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/gzip.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using pgvigil::http::HttpServer;
using pgvigil::http::HttpServerOptions;
using pgvigil::http::Request;
using Response = bhttp::response<bhttp::string_body>;  // as a client reads it
using pgvigil::http::Router;
using pgvigil::http::RouteReply;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kClientTimeout = 3s;

// Runs the io_context until `scenario` finishes (or fails) or `limit` passes.
void run_scenario(asio::io_context& io, asio::awaitable<void> scenario,
                  milliseconds limit = 8000ms) {
  struct Outcome {
    bool done = false;
    std::exception_ptr error;
  };
  auto outcome = std::make_shared<Outcome>();
  asio::co_spawn(io, std::move(scenario), [outcome](std::exception_ptr error) {
    outcome->done = true;
    outcome->error = error;
  });
  const auto deadline = steady_clock::now() + limit;
  for (int round = 0; round < 1'000'000 && !outcome->done && steady_clock::now() < deadline;
       ++round) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  REQUIRE_MESSAGE(outcome->done, "the client scenario did not finish in time");
  if (outcome->error) std::rethrow_exception(outcome->error);
}

// Runs the io_context until `done()` holds or `limit` passes; returns done().
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               milliseconds limit = 3000ms) {
  const auto deadline = steady_clock::now() + limit;
  for (int round = 0; round < 1'000'000 && !done() && steady_clock::now() < deadline; ++round) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  return done();
}

struct Client {
  explicit Client(asio::io_context& io) : stream(io) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

asio::awaitable<void> connect(Client& client, const tcp::endpoint& endpoint) {
  client.stream.expires_after(kClientTimeout);
  co_await client.stream.async_connect(endpoint, asio::use_awaitable);
}

asio::awaitable<Response> read_response(Client& client, bool to_head = false) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(to_head);  // a HEAD response has Content-Length but no body
  client.stream.expires_after(kClientTimeout);
  co_await bhttp::async_read(client.stream, client.buffer, parser, asio::use_awaitable);
  co_return parser.release();
}

Request make_request(bhttp::verb method, std::string target) {
  Request request{method, target, 11};
  request.set(bhttp::field::host, "127.0.0.1");
  return request;
}

asio::awaitable<Response> exchange(Client& client, Request request) {
  client.stream.expires_after(kClientTimeout);
  request.prepare_payload();
  co_await bhttp::async_write(client.stream, request, asio::use_awaitable);
  co_return co_await read_response(client, request.method() == bhttp::verb::head);
}

asio::awaitable<void> send_raw(Client& client, const std::string& bytes) {
  client.stream.expires_after(kClientTimeout);
  co_await asio::async_write(client.stream, asio::buffer(bytes), asio::use_awaitable);
}

// True when the server closes the connection (EOF or reset) before `limit`.
asio::awaitable<bool> closed_by_server(Client& client, milliseconds limit = kClientTimeout) {
  boost::system::error_code ec;
  client.stream.expires_after(limit);
  for (int reads = 0; reads < 1000 && !ec; ++reads) {
    client.buffer.consume(client.buffer.size());
    co_await client.stream.async_read_some(client.buffer.prepare(4096),
                                           asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec == asio::error::eof || ec == asio::error::connection_reset;
}

asio::awaitable<void> sleep_for(milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(asio::use_awaitable);
}

std::string field(const Response& response, bhttp::field name) {
  const auto value = response[name];
  return std::string(value.data(), value.size());
}

std::string gunzip(const std::string& compressed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out(compressed.size() * 100 + 1024, '\0');
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
  for (int i = 0; i < 300; ++i) text += "pg_up{db=\"d" + std::to_string(i) + "\"} 1\n";
  return text;
}

std::string big_body() {
  std::string body;
  body.reserve(4 * 1024 * 1024);
  for (std::size_t i = 0; body.size() < 4 * 1024 * 1024; ++i) body += std::to_string(i) + ",";
  return body;
}

struct ServerFixture {
  asio::io_context io;
  Router router;
  std::function<void()> on_big;  // runs inside the /big handler
  // /later's gzip: the deliveries its producer was handed, for the test to
  // answer when it chooses (as the metrics cache does from its worker).
  std::vector<pgvigil::http::ResponseText::Delivery> later_deliveries;
  std::unique_ptr<HttpServer> server;
  tcp::endpoint endpoint;

  ServerFixture() {
    router.add("/metrics", [](const Request&) {
      return RouteReply{200, "text/plain; version=0.0.4", metrics_text(), true, {}, {}, {}};
    });
    router.add("/later", [this](const Request&) {
      RouteReply reply{200, "text/plain", {}, true, {}, {}, {}};
      reply.plain_body = [](pgvigil::http::ResponseText::Delivery deliver) {
        deliver(std::make_shared<const std::string>(metrics_text()));
      };
      reply.gzipped_body = [this](pgvigil::http::ResponseText::Delivery deliver) {
        later_deliveries.push_back(std::move(deliver));
      };
      return reply;
    });
    router.add("/big", [this](const Request&) {
      if (on_big) on_big();
      return RouteReply{200, "text/plain", big_body(), false, {}, {}, {}};
    });
  }

  void start(HttpServerOptions options = {}) {
    server = std::make_unique<HttpServer>(io, options, [this](const Request& request) {
      const auto target = request.target();
      if (std::string(target.data(), target.size()) == "/throw") {
        throw std::runtime_error("secret=hunter2");
      }
      return router.handle(request);
    });
    const auto endpoints = server->listen({"127.0.0.1:0"});
    REQUIRE(endpoints.size() == 1);
    endpoint = endpoints.front();
    REQUIRE(endpoint.port() != 0);
  }
};

}  // namespace

TEST_CASE_FIXTURE(ServerFixture, "server answers GET, HEAD, 405 and 404 on one connection") {
  start();
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);

    const Response get = co_await exchange(client, make_request(bhttp::verb::get, "/metrics"));
    CHECK(get.result_int() == 200);
    CHECK(get.body() == metrics_text());
    CHECK(field(get, bhttp::field::content_type) == "text/plain; version=0.0.4");

    const Response head = co_await exchange(client, make_request(bhttp::verb::head, "/metrics"));
    CHECK(head.result_int() == 200);
    CHECK(head.body().empty());
    CHECK(field(head, bhttp::field::content_length) == std::to_string(metrics_text().size()));

    Request post = make_request(bhttp::verb::post, "/metrics");
    post.body() = "x=1";
    const Response not_allowed = co_await exchange(client, post);
    CHECK(not_allowed.result_int() == 405);
    CHECK(field(not_allowed, bhttp::field::allow) == "GET, HEAD");

    const Response missing = co_await exchange(client, make_request(bhttp::verb::get, "/nope"));
    CHECK(missing.result_int() == 404);

    // A handler that throws gives 500 without its text, and the server goes on.
    const Response failed = co_await exchange(client, make_request(bhttp::verb::get, "/throw"));
    CHECK(failed.result_int() == 500);
    CHECK(failed.body().find("hunter2") == std::string::npos);
    const Response again = co_await exchange(client, make_request(bhttp::verb::get, "/metrics"));
    CHECK(again.result_int() == 200);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "keep-alive carries two requests on one connection") {
  start();
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    const Response first = co_await exchange(client, make_request(bhttp::verb::get, "/metrics"));
    CHECK(first.result_int() == 200);
    CHECK(first.keep_alive());
    CHECK(server->active_connections() == 1);
    const Response second = co_await exchange(client, make_request(bhttp::verb::get, "/metrics"));
    CHECK(second.result_int() == 200);
    CHECK(second.body() == metrics_text());
    CHECK(server->active_connections() == 1);

    // Two pipelined requests in one write are answered in order.
    co_await send_raw(client,
                      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n");
    const Response third = co_await read_response(client);
    const Response fourth = co_await read_response(client);
    CHECK(third.result_int() == 404);
    CHECK(fourth.result_int() == 200);
    CHECK_FALSE(fourth.keep_alive());
    CHECK(co_await closed_by_server(client));
  }());
  // The client closing its side is a normal end: the slot is freed.
  CHECK(run_until(io, [&] { return server->active_connections() == 0; }));
}

TEST_CASE_FIXTURE(ServerFixture, "gzip over the wire decompresses to the original") {
  start();
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    Request request = make_request(bhttp::verb::get, "/metrics");
    request.set(bhttp::field::accept_encoding, "gzip, deflate");
    const Response compressed = co_await exchange(client, request);
    CHECK(compressed.result_int() == 200);
    CHECK(field(compressed, bhttp::field::content_encoding) == "gzip");
    CHECK(compressed.body().size() < metrics_text().size());
    CHECK(gunzip(compressed.body()) == metrics_text());

    request.set(bhttp::field::accept_encoding, "gzip;q=0");
    const Response plain = co_await exchange(client, request);
    CHECK(field(plain, bhttp::field::content_encoding).empty());
    CHECK(plain.body() == metrics_text());
  }());
}

TEST_CASE_FIXTURE(
    ServerFixture,
    "a body produced later is sent when it arrives, the loop serving others meanwhile") {
  start();
  const auto zipped =
      std::make_shared<const std::string>(pgvigil::http::gzip_compress(metrics_text()));
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client waiting(io);
    co_await connect(waiting, endpoint);
    Request request = make_request(bhttp::verb::get, "/later");
    request.set(bhttp::field::accept_encoding, "gzip");
    request.prepare_payload();
    waiting.stream.expires_after(kClientTimeout);
    co_await bhttp::async_write(waiting.stream, request, asio::use_awaitable);
    for (int i = 0; i < 300 && later_deliveries.empty(); ++i) co_await sleep_for(10ms);
    REQUIRE(later_deliveries.size() == 1);
    // While that request waits for its body, another client is answered.
    Client other(io);
    co_await connect(other, endpoint);
    const Response plain = co_await exchange(other, make_request(bhttp::verb::get, "/later"));
    CHECK(plain.body() == metrics_text());
    CHECK(waiting.buffer.size() == 0);  // nothing sent to the first client yet
    later_deliveries.front()(zipped);
    const Response delivered = co_await read_response(waiting);
    CHECK(delivered.result_int() == 200);
    CHECK(field(delivered, bhttp::field::content_encoding) == "gzip");
    CHECK(field(delivered, bhttp::field::content_length) == std::to_string(zipped->size()));
    CHECK(gunzip(delivered.body()) == metrics_text());
    CHECK(delivered.keep_alive());

    // HEAD gets the gzip's length and no body; a failed producer gives a 500
    // on a connection that stays usable.
    later_deliveries.clear();
    Request head = make_request(bhttp::verb::head, "/later");
    head.set(bhttp::field::accept_encoding, "gzip");
    head.prepare_payload();
    co_await bhttp::async_write(waiting.stream, head, asio::use_awaitable);
    for (int i = 0; i < 300 && later_deliveries.empty(); ++i) co_await sleep_for(10ms);
    REQUIRE(later_deliveries.size() == 1);
    later_deliveries.front()(zipped);
    const Response headers = co_await read_response(waiting, true);
    CHECK(field(headers, bhttp::field::content_length) == std::to_string(zipped->size()));
    CHECK(headers.body().empty());

    later_deliveries.clear();
    request.prepare_payload();
    co_await bhttp::async_write(waiting.stream, request, asio::use_awaitable);
    for (int i = 0; i < 300 && later_deliveries.empty(); ++i) co_await sleep_for(10ms);
    REQUIRE(later_deliveries.size() == 1);
    later_deliveries.front()(nullptr);
    CHECK((co_await read_response(waiting)).result_int() == 500);
    const Response again = co_await exchange(waiting, make_request(bhttp::verb::get, "/later"));
    CHECK(again.body() == metrics_text());
  }());
}

TEST_CASE_FIXTURE(ServerFixture,
                  "a connection closed while its body is produced ignores the late delivery") {
  start();
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    Request request = make_request(bhttp::verb::get, "/later");
    request.set(bhttp::field::accept_encoding, "gzip");
    request.prepare_payload();
    client.stream.expires_after(kClientTimeout);
    co_await bhttp::async_write(client.stream, request, asio::use_awaitable);
    for (int i = 0; i < 300 && later_deliveries.empty(); ++i) co_await sleep_for(10ms);
    REQUIRE(later_deliveries.size() == 1);
  }());
  server.reset();  // closes the waiting connection at once
  later_deliveries.front()(std::make_shared<const std::string>("late"));
  CHECK(run_until(
            io, [] { return false; }, 100ms) == false);  // nothing to send, no crash
}

TEST_CASE_FIXTURE(ServerFixture, "oversize headers get 431 and the connection is closed") {
  HttpServerOptions options;
  options.header_limit = 1024;
  start(options);
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    Request request = make_request(bhttp::verb::get, "/metrics");
    request.set("X-Padding", std::string(4000, 'a'));
    const Response response = co_await exchange(client, request);
    CHECK(response.result_int() == 431);
    CHECK_FALSE(response.keep_alive());
    CHECK(co_await closed_by_server(client));

    // Headers under the limit still work on a new connection.
    Client second(io);
    co_await connect(second, endpoint);
    Request small = make_request(bhttp::verb::get, "/metrics");
    small.set("X-Padding", std::string(200, 'a'));
    CHECK((co_await exchange(second, small)).result_int() == 200);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "oversize bodies get 413") {
  HttpServerOptions options;
  options.body_limit = 100;
  start(options);
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    Request request = make_request(bhttp::verb::post, "/metrics");
    request.body() = std::string(5000, 'b');
    const Response response = co_await exchange(client, request);
    CHECK(response.result_int() == 413);
    CHECK(co_await closed_by_server(client));

    // A chunked body that grows past the limit is caught as well.
    Client chunked(io);
    co_await connect(chunked, endpoint);
    co_await send_raw(chunked,
                      "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "50\r\n" +
                          std::string(0x50, 'c') + "\r\n50\r\n" + std::string(0x50, 'c') +
                          "\r\n0\r\n\r\n");
    CHECK((co_await read_response(chunked)).result_int() == 413);

    // A body within the limit reaches routing (405 for POST).
    Client fitting(io);
    co_await connect(fitting, endpoint);
    Request small = make_request(bhttp::verb::post, "/metrics");
    small.body() = std::string(50, 'b');
    CHECK((co_await exchange(fitting, small)).result_int() == 405);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "malformed requests get 400 and the connection is closed") {
  start();
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    co_await send_raw(client, "THIS IS NOT HTTP\r\n\r\n");
    const Response response = co_await read_response(client);
    CHECK(response.result_int() == 400);
    CHECK(co_await closed_by_server(client));

    Client bad_length(io);
    co_await connect(bad_length, endpoint);
    co_await send_raw(bad_length, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
    CHECK((co_await read_response(bad_length)).result_int() == 400);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "silent and slow clients are dropped after the read timeout") {
  HttpServerOptions options;
  options.read_timeout = 300ms;
  start(options);
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client silent(io);
    co_await connect(silent, endpoint);
    Client slow(io);
    co_await connect(slow, endpoint);
    co_await send_raw(slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n");  // never finishes

    const auto started = steady_clock::now();
    CHECK(co_await closed_by_server(silent));
    CHECK(co_await closed_by_server(slow));
    const auto waited = steady_clock::now() - started;
    CHECK(waited >= 250ms);
    CHECK(waited < 2500ms);

    // Meanwhile others are still served.
    Client prompt(io);
    co_await connect(prompt, endpoint);
    CHECK((co_await exchange(prompt, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "idle keep-alive connections close after the idle timeout") {
  HttpServerOptions options;
  options.idle_timeout = 300ms;
  start(options);
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client client(io);
    co_await connect(client, endpoint);
    CHECK((co_await exchange(client, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);
    const auto started = steady_clock::now();
    CHECK(co_await closed_by_server(client));
    CHECK(steady_clock::now() - started >= 250ms);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "connections beyond max_connections are closed at once") {
  HttpServerOptions options;
  options.max_connections = 2;
  start(options);
  run_scenario(io, [&]() -> asio::awaitable<void> {
    auto first = std::make_unique<Client>(io);
    Client second(io);
    co_await connect(*first, endpoint);
    co_await connect(second, endpoint);
    CHECK((co_await exchange(*first, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);
    CHECK((co_await exchange(second, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);
    CHECK(server->active_connections() == 2);

    Client third(io);
    co_await connect(third, endpoint);
    const auto started = steady_clock::now();
    CHECK(co_await closed_by_server(third));
    CHECK(steady_clock::now() - started < 1000ms);  // at once, not by a timeout
    CHECK(server->active_connections() == 2);

    // The admitted connections are unaffected.
    CHECK((co_await exchange(second, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);

    // A freed slot is usable again.
    first.reset();
    for (int i = 0; i < 300 && server->active_connections() != 1; ++i) co_await sleep_for(10ms);
    CHECK(server->active_connections() == 1);
    Client fourth(io);
    co_await connect(fourth, endpoint);
    CHECK((co_await exchange(fourth, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);
  }());
}

TEST_CASE_FIXTURE(ServerFixture, "stop() finishes the response in flight and closes idle ones") {
  start();
  on_big = [this] { server->stop(); };  // stop arrives while this request is answered
  run_scenario(io, [&]() -> asio::awaitable<void> {
    Client idle(io);
    co_await connect(idle, endpoint);
    CHECK((co_await exchange(idle, make_request(bhttp::verb::get, "/metrics"))).result_int() ==
          200);

    Client busy(io);
    co_await connect(busy, endpoint);
    co_await sleep_for(50ms);  // let the server accept it before stop()
    const Response big = co_await exchange(busy, make_request(bhttp::verb::get, "/big"));
    CHECK(big.result_int() == 200);
    CHECK(big.body().size() == big_body().size());
    CHECK(big.body() == big_body());
    CHECK_FALSE(big.keep_alive());
    CHECK(co_await closed_by_server(busy));
    CHECK(co_await closed_by_server(idle));

    Client late(io);
    boost::system::error_code ec;
    late.stream.expires_after(kClientTimeout);
    co_await late.stream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
    CHECK(ec == asio::error::connection_refused);
  }());
  // Nothing of the server is left on the io_context: it runs out of work.
  io.restart();
  const auto started = steady_clock::now();
  io.run_for(5s);
  CHECK(io.stopped());
  CHECK(steady_clock::now() - started < 4s);
  CHECK(server->active_connections() == 0);
}

TEST_CASE("listen reports bad addresses by name and binds several endpoints") {
  asio::io_context io;
  HttpServer server(io, {}, [](const Request&) { return pgvigil::http::Response{}; });
  const auto check_fails = [&](const std::string& address) {
    try {
      server.listen({address});
      FAIL("listen accepted " << address);
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find(address) != std::string::npos);
    }
  };
  check_fails("no-port");
  check_fails("127.0.0.1:99999");
  check_fails("127.0.0.1:http");
  check_fails("::1:9816");
  check_fails("[::1:9816");
  check_fails(":9816");

  const auto bound = server.listen({"127.0.0.1:0", "127.0.0.2:0"});
  REQUIRE(bound.size() == 2);
  CHECK(bound[0].address().to_string() == "127.0.0.1");
  CHECK(bound[1].address().to_string() == "127.0.0.2");
  CHECK(bound[0].port() != 0);

  // A port in use is an error naming the address; the listeners that call
  // opened before failing are closed again.
  const std::string taken = "127.0.0.1:" + std::to_string(bound[0].port());
  HttpServer other(io, {}, [](const Request&) { return pgvigil::http::Response{}; });
  try {
    other.listen({"127.0.0.3:0", taken});
    FAIL("listen bound a port in use");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(taken) != std::string::npos);
  }
  server.stop();
  other.stop();
  io.run_for(1s);
  CHECK(io.stopped());
}
