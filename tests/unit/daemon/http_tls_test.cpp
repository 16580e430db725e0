// The web endpoint's security with real clients: curl and `openssl s_client`
// against the server on 127.0.0.1:0, certificates made at test time with the
// openssl CLI in a temporary directory. The server's loop runs on its own
// thread while the test thread runs the clients; every wait is bounded.
#include <crypt.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http_server.hpp"
#include "daemon/tls_context.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using pgvigil::http::HttpServer;
using pgvigil::http::HttpServerOptions;
using pgvigil::http::Request;
using pgvigil::http::Response;
using pgvigil::http::Router;
using pgvigil::http::RouteReply;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

struct CommandResult {
  int status = -1;  // exit code; -1 if it did not exit normally
  std::string output;
};

// Runs a shell command, capturing stdout (and stderr when the command says
// 2>&1). Every command here carries its own timeout.
CommandResult run(const std::string& command) {
  CommandResult result;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "cannot run " << command);
  std::array<char, 4096> chunk{};
  while (std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) {
    result.output.append(chunk.data(), n);
  }
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

std::string quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string bcrypt_hash(const std::string& password, unsigned long cost = 4) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE] = {};
  REQUIRE(crypt_gensalt_rn("$2y$", cost, nullptr, 0, salt, sizeof salt) != nullptr);
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_r(password.c_str(), salt, data.get());
  REQUIRE(hash != nullptr);
  return hash;
}

// A throwaway PKI: a CA, server certificates signed by it for 127.0.0.1, a
// client certificate from the same CA and one from an unrelated CA.
struct Pki {
  fs::path dir;

  Pki() {
    char pattern[] = "/tmp/pgvigil-tls-test.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    dir = made;
    make_ca("ca", "pgvigil test CA");
    make_ca("other-ca", "somebody else's CA");
    make_leaf("server", "ca", "pgvigil-first", true);
    make_leaf("renewed", "ca", "pgvigil-renewed", true);
    make_leaf("client", "ca", "scraper", false);
    make_leaf("stranger", "other-ca", "stranger", false);
  }
  ~Pki() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

  std::string file(const std::string& name) const { return (dir / name).string(); }

  void openssl(const std::string& arguments) const {
    const auto result =
        run("cd " + quote(dir.string()) + " && timeout 60 openssl " + arguments + " 2>&1");
    REQUIRE_MESSAGE(result.status == 0, "openssl " << arguments << ":\n" << result.output);
  }

  void make_ca(const std::string& name, const std::string& common_name) const {
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " +
            name + ".key -out " + name + ".crt -subj " + quote("/CN=" + common_name));
  }

  void make_leaf(const std::string& name, const std::string& ca, const std::string& common_name,
                 bool server) const {
    openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name +
            ".key -out " + name + ".csr -subj " + quote("/CN=" + common_name));
    std::ofstream(dir / (name + ".ext"))
        << (server ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                   : "extendedKeyUsage=clientAuth\n");
    openssl("x509 -req -days 2 -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
            ".key -CAcreateserial -out " + name + ".crt -extfile " + name + ".ext");
  }

  // Replaces the served certificate and key the way a renewal tool does:
  // write elsewhere, then rename over the old files.
  void install_server_cert(const std::string& from, const std::string& cert_name,
                           const std::string& key_name) const {
    fs::copy_file(dir / (from + ".crt"), dir / "incoming.crt",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(dir / (from + ".key"), dir / "incoming.key",
                  fs::copy_options::overwrite_existing);
    fs::rename(dir / "incoming.key", dir / key_name);
    fs::rename(dir / "incoming.crt", dir / cert_name);
  }
};

Pki& pki() {
  static Pki shared;  // made once: key generation is the slow part
  return shared;
}

// Log lines the server writes while a test runs, to prove secrets stay out.
struct LogCapture {
  std::ostringstream lines;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  LogCapture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() {
    spdlog::default_logger()->flush();
    return lines.str();
  }
};

// The server on a loop thread of its own.
struct LiveServer {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  Router router;
  std::unique_ptr<HttpServer> server;
  std::thread loop;
  int port = 0;

  explicit LiveServer(HttpServerOptions options) {
    router.add("/metrics", [](const Request&) {
      return RouteReply{200, "text/plain; version=0.0.4", "pg_up 1\n", true, {}, {}, {}};
    });
    router.add("/health", [](const Request&) {
      return RouteReply{200, "text/plain", "ok\n", false, {}, {}, {}};
    });
    router.add("/ready", [](const Request&) {
      return RouteReply{200, "text/plain", "ready\n", false, {}, {}, {}};
    });
    server = std::make_unique<HttpServer>(
        io, std::move(options), [this](const Request& request) { return router.handle(request); });
    const auto endpoints = server->listen({"127.0.0.1:0"});
    REQUIRE(endpoints.size() == 1);
    port = endpoints.front().port();
    loop = std::thread([this] { io.run(); });
  }
  ~LiveServer() {
    // Stops on the loop thread, then the loop itself; lingering connections
    // are cut when the server is destroyed with the loop no longer running.
    std::packaged_task<void()> stop([this] { server->stop(); });
    auto stopped = stop.get_future();
    asio::post(io, [&stop] { stop(); });
    stopped.wait_for(5s);
    work.reset();
    io.stop();
    loop.join();
    server.reset();
  }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // Runs `step` on the loop thread and waits for it (server state is not
  // thread-safe).
  template <class Step>
  auto on_loop(Step step) {
    std::packaged_task<decltype(step())()> task(step);
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    REQUIRE(result.wait_for(5s) == std::future_status::ready);
    return result.get();
  }

  // Polls until the server holds `count` open connections (bounded).
  bool wait_for_connections(std::size_t count) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      if (on_loop([this] { return server->active_connections(); }) == count) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::string url(const std::string& path, bool tls = true) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
  }
};

// curl's status line: "<http code> <exit status>"; 000 when no response came.
struct CurlResult {
  int exit_status = -1;
  int http_code = 0;
  std::string headers;
  milliseconds took{};
};

CurlResult curl(const std::string& arguments, const std::string& url) {
  const auto started = steady_clock::now();
  const auto result =
      run("timeout 20 curl -sS --max-time 10 -D - -o /dev/null -w " + quote("\n%{http_code}") +
          " " + arguments + " " + quote(url) + " 2>/dev/null");
  CurlResult outcome;
  outcome.took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started);
  outcome.exit_status = result.status;
  const auto last_newline = result.output.rfind('\n');
  if (last_newline != std::string::npos) {
    outcome.http_code = std::atoi(result.output.c_str() + last_newline + 1);
    outcome.headers = result.output.substr(0, last_newline);
  }
  return outcome;
}

std::string ca_option() {
  return "--cacert " + quote(pki().file("ca.crt"));
}

HttpServerOptions tls_options(const std::string& cert = "server") {
  HttpServerOptions options;
  pgvigil::config::TlsConfig tls;
  tls.cert_file = pki().file(cert + ".crt");
  tls.key_file = pki().file(cert + ".key");
  options.tls = tls;
  return options;
}

// The CN of the certificate the server presents.
std::string served_subject(int port) {
  const auto result = run("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " </dev/null 2>/dev/null | openssl x509 -noout -subject 2>&1");
  return result.output;
}

// A TCP connection that sends nothing (or a trickle) and stays open.
struct RawSocket {
  int fd = -1;
  explicit RawSocket(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawSocket() {
    if (fd >= 0) ::close(fd);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  void send(const std::string& bytes) const {
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
};

}  // namespace

TEST_CASE("TLS with basic auth: 200 with the password, 401 without, health stays open") {
  LogCapture log;
  const std::string password = "Sw0rdfish-tls-test";
  HttpServerOptions options = tls_options();
  options.basic_auth_users = {{"prometheus", bcrypt_hash(password)}};
  LiveServer live(options);
  REQUIRE(live.on_loop([&] { return live.server->tls_enabled(); }));

  const auto ok =
      curl(ca_option() + " -u " + quote("prometheus:" + password), live.url("/metrics"));
  CHECK(ok.exit_status == 0);
  CHECK(ok.http_code == 200);

  const auto wrong = curl(ca_option() + " -u " + quote("prometheus:not-it"), live.url("/metrics"));
  CHECK(wrong.http_code == 401);
  CHECK(wrong.headers.find("WWW-Authenticate: Basic realm=\"pgvigil\"") != std::string::npos);

  const auto unknown = curl(ca_option() + " -u " + quote("mallory:" + password), live.url("/"));
  CHECK(unknown.http_code == 401);

  const auto anonymous = curl(ca_option(), live.url("/metrics"));
  CHECK(anonymous.http_code == 401);
  CHECK(anonymous.headers.find("WWW-Authenticate: Basic") != std::string::npos);

  // Load balancers probe without credentials.
  CHECK(curl(ca_option(), live.url("/health")).http_code == 200);
  CHECK(curl(ca_option(), live.url("/ready")).http_code == 200);

  // The client must trust the server: without the CA, curl refuses it.
  CHECK(curl("", live.url("/health")).exit_status != 0);
  // Plain HTTP on the TLS port gets no HTTP answer.
  CHECK(curl("", live.url("/health", false)).http_code == 0);

  // Neither the password nor the Authorization header reaches the log.
  const std::string logged = log.text();
  CHECK(logged.find(password) == std::string::npos);
  CHECK(logged.find("Authorization") == std::string::npos);
  CHECK(logged.find("cHJvbWV0aGV1czp") == std::string::npos);  // base64 of "prometheus:"
}

TEST_CASE("without the exemption /health needs credentials too") {
  HttpServerOptions options;
  options.basic_auth_users = {{"prometheus", bcrypt_hash("pw")}};
  options.auth_exempt_health = false;
  LiveServer live(options);
  CHECK(curl("", live.url("/health", false)).http_code == 401);
  CHECK(curl("-u prometheus:pw", live.url("/health", false)).http_code == 200);

  // A reload that turns the exemption on (and changes the password) applies.
  live.on_loop([&] {
    live.server->update_auth({{"prometheus", bcrypt_hash("new-pw")}}, true);
    return true;
  });
  CHECK(curl("", live.url("/health", false)).http_code == 200);
  CHECK(curl("-u prometheus:pw", live.url("/metrics", false)).http_code == 401);
  CHECK(curl("-u prometheus:new-pw", live.url("/metrics", false)).http_code == 200);
}

TEST_CASE("TLS 1.1 is refused, and min_version TLS1.3 refuses TLS 1.2") {
  {
    LiveServer live(tls_options());
    CHECK(curl(ca_option() + " --tls-max 1.2", live.url("/health")).http_code == 200);
    const auto old = curl(ca_option() + " --tlsv1.1 --tls-max 1.1", live.url("/health"));
    CHECK(old.exit_status != 0);
    CHECK(old.http_code == 0);
    // With the client's own floor lowered as far as OpenSSL allows, the
    // refusal must come from the server.
    const auto forced =
        run("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(live.port) +
            " -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null 2>&1");
    CHECK(forced.status != 0);
    CHECK(forced.output.find("alert protocol version") != std::string::npos);
  }
  {
    HttpServerOptions options = tls_options();
    options.tls->min_version = "TLS1.3";
    LiveServer live(options);
    CHECK(curl(ca_option(), live.url("/health")).http_code == 200);
    const auto tls12 = curl(ca_option() + " --tlsv1.2 --tls-max 1.2", live.url("/health"));
    CHECK(tls12.exit_status != 0);
    CHECK(tls12.http_code == 0);
  }
}

TEST_CASE("client_auth require_and_verify: only certificates from client_ca_file get in") {
  HttpServerOptions options = tls_options();
  options.tls->client_auth = "require_and_verify";
  options.tls->client_ca_file = pki().file("ca.crt");
  LiveServer live(options);

  const auto with_cert = curl(ca_option() + " --cert " + quote(pki().file("client.crt")) +
                                  " --key " + quote(pki().file("client.key")),
                              live.url("/metrics"));
  CHECK(with_cert.http_code == 200);

  const auto without = curl(ca_option(), live.url("/metrics"));
  CHECK(without.exit_status != 0);
  CHECK(without.http_code == 0);

  const auto stranger = curl(ca_option() + " --cert " + quote(pki().file("stranger.crt")) +
                                 " --key " + quote(pki().file("stranger.key")),
                             live.url("/metrics"));
  CHECK(stranger.exit_status != 0);
  CHECK(stranger.http_code == 0);

  // The server is unharmed by the refusals.
  CHECK(curl(ca_option() + " --cert " + quote(pki().file("client.crt")) + " --key " +
                 quote(pki().file("client.key")),
             live.url("/health"))
            .http_code == 200);
}

TEST_CASE("a renewed certificate is served without a restart, a broken one is not") {
  // The server reads its own copy so the shared PKI stays untouched.
  pki().install_server_cert("server", "live.crt", "live.key");
  HttpServerOptions options = tls_options("live");
  options.tls_check_interval = 200ms;
  LiveServer live(options);
  CHECK(served_subject(live.port).find("pgvigil-first") != std::string::npos);

  pki().install_server_cert("renewed", "live.crt", "live.key");
  std::string subject;
  for (int attempt = 0; attempt < 40; ++attempt) {
    std::this_thread::sleep_for(100ms);
    subject = served_subject(live.port);
    if (subject.find("pgvigil-renewed") != std::string::npos) break;
  }
  CHECK(subject.find("pgvigil-renewed") != std::string::npos);
  CHECK(live.on_loop([&] { return live.server->tls_reloads(); }) == 1);
  CHECK(curl(ca_option(), live.url("/health")).http_code == 200);

  // Half a renewal (a key that does not match the certificate) keeps the
  // working certificate in service.
  fs::copy_file(pki().dir / "server.key", pki().dir / "incoming.key",
                fs::copy_options::overwrite_existing);
  fs::rename(pki().dir / "incoming.key", pki().dir / "live.key");
  std::this_thread::sleep_for(400ms);
  CHECK(served_subject(live.port).find("pgvigil-renewed") != std::string::npos);
  CHECK(curl(ca_option(), live.url("/health")).http_code == 200);
  CHECK(live.on_loop([&] { return live.server->tls_reloads(); }) == 1);
}

TEST_CASE("unusable TLS files are reported by name at start") {
  asio::io_context io;
  const auto handler = [](const Request&) { return Response{}; };
  const auto expect_error = [&](const HttpServerOptions& options, const std::string& fragment) {
    try {
      HttpServer server(io, options, handler);
      FAIL("the server started with unusable TLS files");
    } catch (const std::runtime_error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(fragment) != std::string::npos,
                    std::string(e.what()));
    }
  };
  HttpServerOptions missing = tls_options();
  missing.tls->cert_file = pki().file("nope.crt");
  expect_error(missing, "nope.crt");

  HttpServerOptions mismatched = tls_options();
  mismatched.tls->key_file = pki().file("renewed.key");
  expect_error(mismatched, "renewed.key");

  HttpServerOptions not_a_key = tls_options();
  not_a_key.tls->key_file = pki().file("server.ext");
  expect_error(not_a_key, "server.ext");

  HttpServerOptions bad_ca = tls_options();
  bad_ca.tls->client_auth = "require_and_verify";
  bad_ca.tls->client_ca_file = pki().file("server.ext");
  expect_error(bad_ca, "server.ext");
}

TEST_CASE("bcrypt runs off the loop, and a cached success skips it") {
  const std::string password = "slow-hash";
  HttpServerOptions options;
  options.basic_auth_users = {{"prometheus", bcrypt_hash(password, 13)}};  // ~0.5-1 s each
  LiveServer live(options);

  // While the first (uncached) check runs on the worker, /health is answered.
  auto first = std::async(std::launch::async, [&] {
    return curl("-u " + quote("prometheus:" + password), live.url("/metrics", false));
  });
  std::this_thread::sleep_for(50ms);
  const auto health = curl("", live.url("/health", false));
  const auto verified = first.get();
  CHECK(health.http_code == 200);
  CHECK(verified.http_code == 200);
  CHECK(health.took < verified.took);

  const auto cached = curl("-u " + quote("prometheus:" + password), live.url("/metrics", false));
  CHECK(cached.http_code == 200);
  CHECK(cached.took * 2 < verified.took);
}

TEST_CASE("slowloris: max_connections idle sockets cannot lock a scrape out") {
  SUBCASE("plain HTTP") {
    HttpServerOptions options;
    options.max_connections = 8;
    LiveServer live(options);
    std::vector<std::unique_ptr<RawSocket>> flood;
    for (int i = 0; i < 8; ++i) {
      flood.push_back(std::make_unique<RawSocket>(live.port));
      if (i % 2 == 1) flood.back()->send("GET /metrics HTTP/1.1\r\nHo");  // trickling
    }
    REQUIRE(live.wait_for_connections(8));  // all of them accepted
    for (int scrape = 0; scrape < 3; ++scrape) {
      if (scrape > 0) {
        // The attacker refills the slot the previous scrape left.
        CHECK(live.wait_for_connections(7));
        flood.push_back(std::make_unique<RawSocket>(live.port));
        CHECK(live.wait_for_connections(8));
      }
      const auto result = curl("", live.url("/metrics", false));
      CHECK(result.http_code == 200);
      CHECK(result.took < 2s);
    }
    CHECK(live.on_loop([&] { return live.server->evicted_connections(); }) == 3);
    CHECK(live.on_loop([&] { return live.server->active_connections(); }) <= 8);
  }
  SUBCASE("TLS, sockets that never start the handshake") {
    HttpServerOptions options = tls_options();
    options.max_connections = 8;
    LiveServer live(options);
    std::vector<std::unique_ptr<RawSocket>> flood;
    for (int i = 0; i < 8; ++i) flood.push_back(std::make_unique<RawSocket>(live.port));
    REQUIRE(live.wait_for_connections(8));
    const auto result = curl(ca_option(), live.url("/metrics"));
    CHECK(result.http_code == 200);
    CHECK(result.took < 2s);
    CHECK(live.on_loop([&] { return live.server->evicted_connections(); }) >= 1);
  }
  SUBCASE("silent newcomers time out sooner than read_timeout") {
    HttpServerOptions options;
    options.first_request_timeout = 300ms;
    LiveServer live(options);
    const auto started = steady_clock::now();
    RawSocket silent(live.port);
    REQUIRE(live.wait_for_connections(1));
    CHECK(live.wait_for_connections(0));
    const auto waited = steady_clock::now() - started;
    CHECK(waited >= 250ms);
    CHECK(waited < 2s);  // read_timeout is 10 s
  }
}

TEST_CASE("password checks beyond max_pending_verifications get 503 with Retry-After") {
  HttpServerOptions options;
  options.basic_auth_users = {{"prometheus", bcrypt_hash("pw", 13)}};  // ~0.5-1 s each
  options.max_pending_verifications = 1;
  LiveServer live(options);
  // The second request must arrive while the first check runs; on a loaded
  // machine the first may start late, so try again with a longer head start
  // (bounded: 5 attempts).
  bool refused = false;
  for (int attempt = 1; attempt <= 5 && !refused; ++attempt) {
    auto first = std::async(std::launch::async, [&] {
      return curl("-u prometheus:wrong-1", live.url("/metrics", false));
    });
    std::this_thread::sleep_for(attempt * 100ms);
    const auto second = curl("-u prometheus:wrong-2", live.url("/metrics", false));
    const auto first_reply = first.get();
    if (second.http_code != 503) {
      CHECK(second.http_code == 401);  // it came before or after the first: checked normally
      continue;
    }
    refused = true;
    CHECK(second.headers.find("Retry-After: 1") != std::string::npos);
    CHECK(first_reply.http_code == 401);
  }
  CHECK(refused);
  // With the worker free again, checks are accepted. Other tests may load
  // both cores (ctest -j2): a check can outlast curl's --max-time, and then
  // its successor waits for the worker (503) until it ends. Bounded: 20 tries.
  int code = 0;
  for (int attempt = 0; attempt < 20 && code != 200; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(500ms);
    code = curl("-u prometheus:pw", live.url("/metrics", false)).http_code;
    CHECK((code == 200 || code == 503 || code == 0));
  }
  CHECK(code == 200);
}

TEST_CASE("a flood of wrong passwords does not lock valid scrapers out") {
  // Five scrapers, none in the success cache yet, each from 127.0.0.2, while
  // 32 clients on 127.0.0.1 send wrong passwords as fast as they can.
  HttpServerOptions options;
  for (int i = 0; i < 5; ++i)
    options.basic_auth_users["scraper" + std::to_string(i)] =
        bcrypt_hash("pw-" + std::to_string(i), 10);  // tens of ms per check
  LiveServer live(options);
  std::atomic<bool> flooding{true};
  std::atomic<int> refused_busy{0};
  std::vector<std::thread> flood;
  for (int client = 0; client < 32; ++client) {
    flood.emplace_back([&, client] {
      for (int n = 0; n < 400 && flooding; ++n) {  // bounded; stops when the scrapers are done
        const auto reply =
            curl("-u scraper0:wrong-" + std::to_string(client) + "-" + std::to_string(n),
                 live.url("/metrics", false));
        if (reply.http_code == 503) ++refused_busy;
      }
    });
  }
  // The flood has filled the checks: clients are being turned away.
  const auto deadline = steady_clock::now() + 20s;
  while (refused_busy == 0 && steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  CHECK(refused_busy > 0);
  int allowed = 0;
  for (int i = 0; i < 5; ++i) {
    const auto reply =
        curl("--interface 127.0.0.2 -u scraper" + std::to_string(i) + ":pw-" + std::to_string(i),
             live.url("/metrics", false));
    INFO("scraper" << i << " got HTTP " << reply.http_code);
    if (reply.http_code == 200) ++allowed;
  }
  flooding = false;
  for (auto& thread : flood) thread.join();
  CHECK(allowed == 5);
}
