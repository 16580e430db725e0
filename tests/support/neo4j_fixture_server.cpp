#include "support/neo4j_fixture_server.hpp"

#include <fcntl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "config/http_url.hpp"

namespace pgvigil::test {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/neo4j/" + name);
  if (!in) throw std::runtime_error("missing fixture tests/data/neo4j/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The daemon under test is forked from the test process: without
// close-on-exec it would inherit the listener and keep the port open (and
// silent) after stop().
void keep_from_children(int fd) {
  ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

struct Reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

}  // namespace

struct Neo4jFixtureServer::State : std::enable_shared_from_this<State> {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::shared_ptr<tcp::socket>> sockets;  // open connections (the silent ones too)
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<std::string> requests;
  std::vector<std::string> authorizations;
  const std::atomic<Mode>* mode = nullptr;
  std::string expected_authorization;  // "" when auth is off

  void accept() {
    acceptor.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (ec) return;  // the acceptor was closed
          keep_from_children(socket.native_handle());
          auto conn = std::make_shared<tcp::socket>(std::move(socket));
          self->sockets.push_back(conn);
          self->read(conn);
          self->accept();
        });
  }

  void read(const std::shared_ptr<tcp::socket>& conn) {
    auto buffer = std::make_shared<boost::beast::flat_buffer>();
    auto request = std::make_shared<bhttp::request<bhttp::string_body>>();
    bhttp::async_read(*conn, *buffer, *request,
                      [self = shared_from_this(), conn, buffer, request](
                          boost::system::error_code ec, std::size_t) {
                        if (ec) return;  // the client closed: a normal end
                        self->answer(conn, *request);
                      });
  }

  void answer(const std::shared_ptr<tcp::socket>& conn,
              const bhttp::request<bhttp::string_body>& request) {
    const std::string target(request.target());
    const std::string authorization(request[bhttp::field::authorization]);
    {
      std::lock_guard lock(mutex);
      requests.push_back(std::string(request.method_string()) + " " + target);
      if (!authorization.empty()) authorizations.push_back(authorization);
    }
    const Mode current = mode->load();
    if (current == Mode::silent) return;  // the connection stays open, unanswered
    const Reply reply =
        route(current, request.method() == bhttp::verb::post, target, authorization);
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(reply.status), 11);
    response->set(bhttp::field::server, "pgvigil-neo4j-fixture");
    response->set(bhttp::field::content_type, reply.content_type);
    if (reply.status == 401) response->set(bhttp::field::www_authenticate, "Basic realm=\"Neo4j\"");
    response->body() = reply.body;
    response->keep_alive(false);
    response->prepare_payload();
    bhttp::async_write(*conn, *response, [conn, response](boost::system::error_code, std::size_t) {
      boost::system::error_code ignored;
      conn->shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  Reply route(Mode current, bool post, const std::string& target,
              const std::string& authorization) const {
    const bool root = target == "/";
    const bool authed = expected_authorization.empty() || authorization == expected_authorization;
    switch (current) {
      case Mode::starting:
        return {503, "text/plain", ""};
      case Mode::not_json:
        return {200, "text/html", fixture("not_json.txt")};
      case Mode::oversized:
        if (root) return {200, "application/json", "[\"" + std::string(2 << 20, 'x') + "\"]"};
        break;
      case Mode::auth_failure:
        if (!root) return {401, "application/json", fixture("tx_unauthorized.json")};
        break;
      default:
        break;
    }
    const bool enterprise =
        current == Mode::enterprise_leader || current == Mode::enterprise_no_leader;
    if (root)
      return {200, "application/json",
              fixture(enterprise ? "discovery_enterprise.json" : "discovery_community.json")};
    // Every other endpoint needs credentials when auth is on (the cluster
    // endpoints too, with dbms.security.cluster_status_auth_enabled=true).
    if (!authed) return {401, "application/json", fixture("tx_unauthorized.json")};
    if (post && target == "/db/neo4j/tx/commit") {
      if (current == Mode::database_unavailable)
        return {200, "application/json", fixture("tx_database_unavailable.json")};
      return {200, "application/json", fixture("tx_return1.json")};
    }
    if (post && target.starts_with("/db/") && target.ends_with("/tx/commit"))
      return {200, "application/json", fixture("tx_database_not_found.json")};
    if (!enterprise) return {404, "text/plain", ""};  // Community has no cluster endpoints
    const bool leader = current == Mode::enterprise_leader;
    if (target == "/db/neo4j/cluster/available")
      return {200, "text/plain", fixture("cluster_true.txt")};
    if (target == "/db/neo4j/cluster/writable")
      return leader ? Reply{200, "text/plain", fixture("cluster_true.txt")}
                    : Reply{404, "text/plain", fixture("cluster_false.txt")};
    if (target == "/dbms/cluster/status")
      return {200, "application/json",
              fixture(leader ? "cluster_status_leader.json" : "cluster_status_no_leader.json")};
    return {404, "text/plain", ""};
  }

  void close_all() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (auto& socket : sockets) socket->close(ignored);
    sockets.clear();
  }
};

Neo4jFixtureServer::Neo4jFixtureServer(Mode mode, std::string password)
    : mode_(mode), password_(std::move(password)) {
  start();
}

Neo4jFixtureServer::~Neo4jFixtureServer() {
  stop();
}

void Neo4jFixtureServer::start() {
  if (state_) return;
  auto state = std::make_shared<State>();
  state->mode = &mode_;
  if (!password_.empty())
    state->expected_authorization = config::basic_authorization("neo4j", password_);
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(),
                               static_cast<unsigned short>(port_));
  state->acceptor.open(endpoint.protocol());
  keep_from_children(state->acceptor.native_handle());
  state->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state->acceptor.bind(endpoint);  // port 0 the first time: the kernel picks one
  state->acceptor.listen();
  port_ = state->acceptor.local_endpoint().port();
  state->accept();
  state->thread = std::thread([raw = state.get()] { raw->io.run(); });
  state_ = std::move(state);
}

void Neo4jFixtureServer::stop() {
  if (!state_) return;
  auto state = std::move(state_);
  asio::post(state->io, [raw = state.get()] {
    raw->close_all();
    raw->io.stop();
  });
  state->thread.join();
  std::lock_guard lock(state->mutex);
  earlier_requests_.insert(earlier_requests_.end(), state->requests.begin(), state->requests.end());
  earlier_authorizations_.insert(earlier_authorizations_.end(), state->authorizations.begin(),
                                 state->authorizations.end());
}

std::vector<std::string> Neo4jFixtureServer::requests() const {
  std::vector<std::string> out = earlier_requests_;
  if (state_) {
    std::lock_guard lock(state_->mutex);
    out.insert(out.end(), state_->requests.begin(), state_->requests.end());
  }
  return out;
}

std::vector<std::string> Neo4jFixtureServer::authorizations() const {
  std::vector<std::string> out = earlier_authorizations_;
  if (state_) {
    std::lock_guard lock(state_->mutex);
    out.insert(out.end(), state_->authorizations.begin(), state_->authorizations.end());
  }
  return out;
}

std::size_t Neo4jFixtureServer::request_count(const std::string& method_and_target) const {
  std::size_t count = 0;
  for (const auto& request : requests()) count += request == method_and_target ? 1U : 0U;
  return count;
}

}  // namespace pgvigil::test
