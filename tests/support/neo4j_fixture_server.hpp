#pragma once
// Test-only: a STAND-IN for a Neo4j server, which cannot be installed on the
// project's machines (not in Debian or npm). An HTTP server (Boost.Beast, its
// own thread and io_context) on 127.0.0.1 that answers the requests pgvigil
// sends with the replies of tests/data/neo4j/ (shapes from Neo4j's HTTP API
// and Operations manuals; their README says which file stands for what).
// It is not Neo4j: it knows only the endpoints pgvigil asks for, and its mode
// decides every answer. Switch modes at any time; stop() and start() make a
// refused port and bring it back on the same port.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgvigil::test {

class Neo4jFixtureServer {
 public:
  enum class Mode {
    community,             // 5.26 Community: no cluster endpoints (404)
    enterprise_leader,     // 5.26 Enterprise, this member leads `neo4j`: writable
    enterprise_no_leader,  // Enterprise, the `neo4j` Raft group has no leader
    auth_failure,          // every authenticated request: 401 Neo.ClientError.Security.Unauthorized
    starting,              // every request: 503 (the server is starting)
    database_unavailable,  // tx/commit: Neo.TransientError.Database.DatabaseUnavailable
    not_json,              // every request: an HTML page (a proxy's error page) with 200
    oversized,             // GET /: a 2 MiB JSON document
    silent,                // accepts, reads the request, never answers
  };

  // `password`: when set, the fixture checks basic auth ("neo4j" user) like
  // a server with dbms.security.auth_enabled=true, and answers 401 otherwise.
  explicit Neo4jFixtureServer(Mode mode = Mode::community, std::string password = {});
  ~Neo4jFixtureServer();
  Neo4jFixtureServer(const Neo4jFixtureServer&) = delete;
  Neo4jFixtureServer& operator=(const Neo4jFixtureServer&) = delete;

  int port() const { return port_; }
  void set_mode(Mode mode) { mode_.store(mode); }
  // Closes the listener and every connection (a refused port); start() binds
  // the same port again.
  void stop();
  void start();

  // What arrived: "METHOD target" per request, and the Authorization headers.
  std::vector<std::string> requests() const;
  std::vector<std::string> authorizations() const;
  std::size_t request_count(const std::string& method_and_target) const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::atomic<Mode> mode_;
  std::string password_;
  int port_ = 0;
  // What the listeners before the last stop() recorded.
  std::vector<std::string> earlier_requests_;
  std::vector<std::string> earlier_authorizations_;
};

}  // namespace pgvigil::test
