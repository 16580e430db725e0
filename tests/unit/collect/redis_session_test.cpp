// RESP that breaks the protocol, read by RespReader and by a RedisSession
// on the test thread's io_context against a scripted server on loopback
// (an Asio acceptor in the test, because what is tested is a server's bad
// replies, which no real redis-server sends): the round fails with its
// reason, redis_connection_failures_total moves, the next connection
// recovers. Every wait is bounded in time.
#include <doctest/doctest.h>

#include <utility>  // before Asio: its awaitable.hpp uses std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "collect/metrics_store.hpp"
#include "collect/redis_session.hpp"
#include "collect/resp_reader.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using pgvigil::redis::Reply;
using pgvigil::redis::RespReader;

namespace {

std::string bulk(std::string_view text) {
  return "$" + std::to_string(text.size()) + "\r\n" + std::string(text) + "\r\n";
}

const std::string kInfo =
    "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n# Replication\r\nrole:master\r\n";

// A whole round as a redis-server answers it: PING, INFO all, CONFIG GET x2.
std::string good_round() {
  return "+PONG\r\n" + bulk(kInfo) + "*2\r\n" + bulk("maxmemory") + bulk("0") + "*2\r\n" +
         bulk("maxclients") + bulk("10000");
}

// Answers every PING it reads with script(connection number, round number
// on that connection); an empty answer leaves the client waiting.
class ScriptedServer {
 public:
  using Script = std::function<std::string(int connection, int round)>;
  ScriptedServer(asio::io_context& io, Script script)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(script)) {
    asio::co_spawn(io, accept_loop(), [](std::exception_ptr) {});
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return *connections_; }

 private:
  asio::awaitable<void> accept_loop() {
    auto connections = connections_;
    // Ends when the acceptor closes (the test's end): async_accept throws.
    for (;;) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket), (*connections)++, script_),
                     [](std::exception_ptr) {});
    }
  }

  static asio::awaitable<void> serve(tcp::socket socket, int connection, Script script) {
    std::string buffer;
    char chunk[4096];
    int round = 0;
    const std::string ping = "*1\r\n$4\r\nPING\r\n";
    // Ends when the client closes the connection: the read throws.
    for (;;) {
      const auto n = co_await socket.async_read_some(asio::buffer(chunk), asio::use_awaitable);
      buffer.append(chunk, n);
      for (auto at = buffer.find(ping); at != std::string::npos; at = buffer.find(ping)) {
        buffer.erase(0, at + ping.size());
        const auto answer = script(connection, round++);
        if (!answer.empty())
          co_await asio::async_write(socket, asio::buffer(answer), asio::use_awaitable);
      }
    }
  }

  tcp::acceptor acceptor_;
  Script script_;
  std::shared_ptr<int> connections_ = std::make_shared<int>(0);
};

pgvigil::config::ServiceTargetConfig target_at(int port) {
  pgvigil::config::ServiceTargetConfig target;
  target.kind = pgvigil::config::ServiceKind::redis;
  target.name = "cache";
  target.host = "127.0.0.1";
  target.port = static_cast<std::uint16_t>(port);
  target.timeout = 300ms;
  target.interval = 100ms;
  return target;
}

// Runs the loop until `done` holds or `limit` passes (then false).
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_for(10ms);
  }
  return true;
}

double failures(const pgvigil::MetricsStore& store, const std::string& reason) {
  for (const auto& [labels, value] : store.samples("cache", "redis_connection_failures_total"))
    for (const auto& [name, label_value] : labels)
      if (name == "reason" && label_value == reason) return value;
  return 0;
}

struct Session {
  Session(asio::io_context& io, int port)
      : session(std::make_shared<pgvigil::RedisSession>(
            io, store, target_at(port), std::nullopt, pgvigil::RedisSessionOptions{50ms, 100ms})) {
    session->start();
  }
  ~Session() { session->stop(); }
  pgvigil::MetricsStore store;
  std::shared_ptr<pgvigil::RedisSession> session;
};

}  // namespace

TEST_CASE("resp reader: a truncated reply waits for more, byte by byte as at once") {
  const std::string round = good_round();
  RespReader whole;
  REQUIRE(whole.feed(round.substr(0, round.size() - 3)) == RespReader::Status::incomplete);
  Reply reply;
  REQUIRE(whole.next(reply) == RespReader::Status::reply);  // +PONG
  CHECK(reply.type == Reply::Type::status);
  REQUIRE(whole.next(reply) == RespReader::Status::reply);  // INFO
  CHECK(reply.type == Reply::Type::string);
  CHECK(reply.text == kInfo);
  REQUIRE(whole.next(reply) == RespReader::Status::reply);     // maxmemory
  CHECK(whole.next(reply) == RespReader::Status::incomplete);  // maxclients, cut
  CHECK(whole.feed(round.substr(round.size() - 3)) == RespReader::Status::incomplete);
  REQUIRE(whole.next(reply) == RespReader::Status::reply);
  REQUIRE(reply.type == Reply::Type::array);
  REQUIRE(reply.elements.size() == 2);
  CHECK(reply.elements[1].text == "10000");
  CHECK(whole.next(reply) == RespReader::Status::incomplete);

  RespReader bytewise;
  int replies = 0;
  for (char c : round) {
    REQUIRE(bytewise.feed(std::string_view(&c, 1)) == RespReader::Status::incomplete);
    while (bytewise.next(reply) == RespReader::Status::reply) ++replies;
  }
  CHECK(replies == 4);
}

TEST_CASE("resp reader: bytes that are not RESP and replies over the limit are errors") {
  RespReader garbage;
  Reply reply;
  REQUIRE(garbage.feed("HTTP/1.1 400 Bad Request\r\n\r\n") == RespReader::Status::incomplete);
  CHECK(garbage.next(reply) == RespReader::Status::error);
  CHECK_FALSE(garbage.error().empty());
  // Once broken, it stays broken: the session drops the connection.
  CHECK(garbage.feed("+PONG\r\n") == RespReader::Status::error);

  RespReader small(16);
  CHECK(small.feed("$100\r\n") == RespReader::Status::incomplete);
  CHECK(small.feed(std::string(20, 'x')) == RespReader::Status::error);
  CHECK(small.error().find("larger than 16 bytes") != std::string::npos);

  RespReader error;
  REQUIRE(error.feed("-ERR unknown command 'INFO'\r\n") == RespReader::Status::incomplete);
  REQUIRE(error.next(reply) == RespReader::Status::reply);
  CHECK(reply.type == Reply::Type::error);
  CHECK(reply.text == "ERR unknown command 'INFO'");
  CHECK_FALSE(reply.is_text());
}

TEST_CASE("redis session: a truncated reply is waited for, then the deadline fails the round") {
  asio::io_context io;
  // The first connection gets PING and half of INFO, then nothing.
  ScriptedServer server(io, [](int connection, int) {
    return connection == 0 ? "+PONG\r\n$500\r\n# Server\r\nredis_vers" : good_round();
  });
  Session s(io, server.port());
  // Well within the 300 ms deadline the round is still open: not up, not failed.
  io.run_for(150ms);
  CHECK_FALSE(s.session->first_round_done());
  CHECK(s.session->reason() == "connecting");
  REQUIRE(run_until(
      io, [&] { return s.session->reason() == "timeout"; }, 2s));
  CHECK_FALSE(s.session->up());
  CHECK(s.session->last_error().find("no reply within") != std::string::npos);
  CHECK(failures(s.store, "timeout") == 1.0);
  CHECK(s.store.samples("cache", "redis_uptime_in_seconds").empty());
  // A new connection, a whole round: up again.
  REQUIRE(run_until(
      io, [&] { return s.session->up(); }, 2s));
  CHECK(server.connections() == 2);
  CHECK(s.store.samples("cache", "redis_uptime_in_seconds").size() == 1);
}

TEST_CASE("redis session: an error or a status where INFO's bulk string belongs fails the round") {
  struct Case {
    std::string reply;  // to the first connection's round
    std::string reason;
    std::string error;
  };
  for (const auto& c :
       {Case{"+PONG\r\n-ERR unknown command 'INFO'\r\n", "other", "INFO: ERR unknown command"},
        Case{"+PONG\r\n-LOADING Redis is loading the dataset in memory\r\n", "loading",
             "INFO: LOADING"},
        Case{"+PONG\r\n+OK\r\n", "protocol", "INFO reply is not a bulk string"},
        Case{"+PONG\r\n:7\r\n", "protocol", "INFO reply is not a bulk string"}}) {
    CAPTURE(c.reply);
    asio::io_context io;
    ScriptedServer server(
        io, [&](int connection, int) { return connection == 0 ? c.reply : good_round(); });
    Session s(io, server.port());
    REQUIRE(run_until(
        io, [&] { return s.session->reason() == c.reason; }, 2s));
    CHECK_FALSE(s.session->up());
    CHECK(s.session->last_error().find(c.error) != std::string::npos);
    CHECK(failures(s.store, c.reason) == 1.0);
    REQUIRE(run_until(
        io, [&] { return s.session->up(); }, 2s));
    CHECK(s.session->reason() == "none");
  }
}

TEST_CASE("redis session: INFO that is not key:value and bytes that are not RESP are protocol") {
  for (const auto& reply :
       {"+PONG\r\n" + bulk("# Server\r\nredis_version:7.0.15\r\nthis is not a field\r\n") +
            "*2\r\n" + bulk("maxmemory") + bulk("0") + "*2\r\n" + bulk("maxclients") + bulk("1"),
        std::string("HTTP/1.1 400 Bad Request\r\n\r\n")}) {
    CAPTURE(reply);
    asio::io_context io;
    ScriptedServer server(
        io, [&](int connection, int) { return connection == 0 ? reply : good_round(); });
    Session s(io, server.port());
    REQUIRE(run_until(
        io, [&] { return s.session->reason() == "protocol"; }, 2s));
    CHECK(failures(s.store, "protocol") == 1.0);
    // The reason says what broke without echoing the server's bytes at length.
    CHECK(s.session->last_error().size() < 300);
    REQUIRE(run_until(
        io, [&] { return s.session->up(); }, 2s));
    CHECK(s.store.samples("cache", "redis_uptime_in_seconds").size() == 1);
  }
}
