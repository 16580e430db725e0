// The HTTP GET client against a tiny loopback server written here, sharing
// the test thread's io_context; every wait is bounded in time and count.
#include "collect/http_client.hpp"

#include <doctest/doctest.h>

#include <utility>  // before Asio: its awaitable.hpp uses std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using pgvigil::HttpClient;
using pgvigil::HttpResult;
using pgvigil::HttpUrl;
using pgvigil::parse_http_url;

HttpUrl url_of(const std::string& text) {
  std::string error;
  auto url = parse_http_url(text, &error);
  REQUIRE_MESSAGE(url.has_value(), error);
  return *url;
}

std::string error_of(const std::string& text) {
  std::string error;
  CHECK_FALSE(parse_http_url(text, &error).has_value());
  return error;
}

// Accepts one connection, keeps the request head, then writes `reply`; with an
// empty reply it holds the connection open and silent for `hold`.
asio::awaitable<void> serve_once(tcp::acceptor& acceptor, std::string reply, std::string* head,
                                 std::chrono::milliseconds hold) {
  auto socket = co_await acceptor.async_accept(asio::use_awaitable);
  std::string data;
  co_await asio::async_read_until(socket, asio::dynamic_buffer(data), "\r\n\r\n",
                                  asio::use_awaitable);
  *head = data;
  if (!reply.empty()) {
    co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
  } else {
    asio::steady_timer wait(socket.get_executor(), hold);
    co_await wait.async_wait(asio::use_awaitable);
  }
}

struct Server {
  explicit Server(asio::io_context& io, std::string reply, std::chrono::milliseconds hold = 0ms)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, serve_once(acceptor, std::move(reply), &head, hold),
                   [](std::exception_ptr) {});
  }
  int port() const { return acceptor.local_endpoint().port(); }
  tcp::acceptor acceptor;
  std::string head;
};

std::optional<HttpResult> fetch(asio::io_context& io, const std::string& url,
                                std::chrono::milliseconds timeout = 2000ms,
                                std::size_t limit = 1024) {
  HttpClient fetcher(io);
  std::optional<HttpResult> result;
  int calls = 0;
  fetcher.get(url_of(url), "/cluster", timeout, limit, [&](HttpResult r) {
    ++calls;
    result = std::move(r);
  });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (int round = 0; round < 100'000 && !result && std::chrono::steady_clock::now() < deadline;
       ++round)
    io.run_one_for(10ms);
  // Let whatever is still pending finish: the callback must not run twice.
  for (int round = 0; round < 20; ++round) io.run_one_for(5ms);
  CHECK(calls == 1);
  return result;
}

std::string http(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("http client: URLs split into parts, credentials into a header and out of display") {
  auto plain = url_of("http://127.0.0.1:8008");
  CHECK_FALSE(plain.tls);
  CHECK(plain.host == "127.0.0.1");
  CHECK(plain.port == "8008");
  CHECK(plain.path.empty());
  CHECK(plain.authorization.empty());
  CHECK(plain.display == "http://127.0.0.1:8008");

  auto tls = url_of("https://patroni.example.net/api/");
  CHECK(tls.tls);
  CHECK(tls.port == "443");
  CHECK(tls.path == "/api");
  CHECK(tls.display == "https://patroni.example.net:443/api");

  CHECK(url_of("HTTPS://Host:8443").tls);

  auto v6 = url_of("http://[::1]:8008");
  CHECK(v6.host == "::1");
  CHECK(v6.display == "http://[::1]:8008");

  auto secret = url_of("http://watcher:p%40ss:word@10.0.0.1:8008");
  CHECK(secret.host == "10.0.0.1");
  CHECK(secret.authorization == "Basic " + pgvigil::base64_encode("watcher:p@ss:word"));
  CHECK(secret.display.find("watcher") == std::string::npos);
  CHECK(secret.display.find("ss") == std::string::npos);

  CHECK(error_of("ftp://x") == "URL must start with http:// or https://");
  CHECK(error_of("http://:8008") == "URL authority: the host is missing");
  CHECK(error_of("http://u:topsecret@h:99999") == "URL authority: the port must be 0..65535");
  CHECK(error_of("http://u:topsecret@h:0") == "URL has an invalid port");
  CHECK(error_of("http://h:8008/x?y=1") == "URL must not have a query or fragment");
  CHECK(error_of("http://nopassword@h") == "URL credentials must be user:password");
  CHECK(error_of("http://u:%zz@h").find("percent") != std::string::npos);
  CHECK(error_of("http://u:%zz@h").find("%zz") == std::string::npos);

  // Where the config has secret files for them (Alertmanager), credentials
  // in the URL are refused, and the error does not quote them.
  std::string refused;
  CHECK_FALSE(pgvigil::parse_http_url("http://u:topsecret@h:9093", &refused,
                                      pgvigil::UrlCredentials::refused));
  CHECK(refused.find("credentials") != std::string::npos);
  CHECK(refused.find("topsecret") == std::string::npos);
  CHECK(pgvigil::parse_http_url("HTTPS://h", &refused, pgvigil::UrlCredentials::refused));
}

TEST_CASE("http client: a 2xx reply with its body, credentials sent as Basic auth") {
  asio::io_context io;
  Server server(io, http("200 OK", R"({"members": []})"));
  auto result = fetch(io, "http://u:pw@127.0.0.1:" + std::to_string(server.port()) + "/base");
  REQUIRE(result);
  CHECK(result->ok);
  CHECK(result->status == 200);
  CHECK(result->body == R"({"members": []})");
  CHECK(result->error.empty());
  CHECK(server.head.starts_with("GET /base/cluster HTTP/1.1\r\n"));
  CHECK(server.head.find("Authorization: Basic " + pgvigil::base64_encode("u:pw")) !=
        std::string::npos);
}

TEST_CASE("http client: an HTTP error status is not ok") {
  asio::io_context io;
  Server server(io, http("503 Service Unavailable", "{}"));
  auto result = fetch(io, "http://127.0.0.1:" + std::to_string(server.port()));
  REQUIRE(result);
  CHECK_FALSE(result->ok);
  CHECK(result->status == 503);
  CHECK(result->error == "HTTP 503");
}

TEST_CASE("http client: a body over the limit is refused") {
  asio::io_context io;
  Server server(io, http("200 OK", std::string(5000, 'x')));
  auto result = fetch(io, "http://127.0.0.1:" + std::to_string(server.port()), 2000ms, 1024);
  REQUIRE(result);
  CHECK_FALSE(result->ok);
  CHECK(result->error == "reply body over the size limit");
}

TEST_CASE("http client: a chunked body over the limit is refused too") {
  asio::io_context io;
  std::string chunks;
  for (int i = 0; i < 10; ++i) chunks += "200\r\n" + std::string(512, 'y') + "\r\n";
  Server server(io, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                        chunks + "0\r\n\r\n");
  auto result = fetch(io, "http://127.0.0.1:" + std::to_string(server.port()), 2000ms, 1024);
  REQUIRE(result);
  CHECK_FALSE(result->ok);
  CHECK(result->error == "reply body over the size limit");
}

TEST_CASE("http client: a silent server times out, a closed port is refused") {
  asio::io_context io;
  {
    Server server(io, "", 3000ms);
    auto result = fetch(io, "http://127.0.0.1:" + std::to_string(server.port()), 300ms);
    REQUIRE(result);
    CHECK_FALSE(result->ok);
    CHECK(result->error == "timed out after 300 ms");
  }
  int closed_port = 0;
  {
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  auto refused = fetch(io, "http://127.0.0.1:" + std::to_string(closed_port));
  REQUIRE(refused);
  CHECK_FALSE(refused->ok);
  CHECK(refused->error.starts_with("connect: "));

  // Garbage instead of HTTP.
  Server junk(io, "this is not http\r\n\r\n");
  auto bad = fetch(io, "http://127.0.0.1:" + std::to_string(junk.port()));
  REQUIRE(bad);
  CHECK_FALSE(bad->ok);
  CHECK(bad->error.starts_with("read: "));
}
