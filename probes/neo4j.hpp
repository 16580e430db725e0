#pragma once
// Neo4j targets, the pure half: the HTTP API's replies -> samples, the down
// reasons and the classification of Neo4j status codes. The session that
// sends the requests lives in collect/neo4j_session.*; everything here is
// tested against the reply files in tests/data/neo4j/ (shapes from Neo4j's
// HTTP API and Operations manuals, not captures: docs/neo4j.md).
//
// The replies (Neo4j 4.x and 5.x):
//   GET /                        {"neo4j_version": "5.26.0", "neo4j_edition": "enterprise",
//                                 "bolt_direct": ..., "transaction": ..., ...}
//   POST /db/<db>/tx/commit      {"results": [{"columns": ["1"], "data": [{"row": [1], ...}]}],
//                                 "errors": [{"code": "Neo.ClientError...", "message": "..."}]}
//   GET /db/<db>/cluster/available|writable|read-only   200 "true" or 404 "false" (text/plain)
//   GET /dbms/cluster/status     [{"databaseName": "neo4j", "databaseUuid": "...",
//                                  "databaseStatus": {"votingMembers": [...], "leader": "...",
//                                  "healthy": true, "core": true, ...}}, ...]
// The cluster endpoints exist on Enterprise servers only; Community answers 404.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/sample_sink.hpp"

namespace pgvigil::neo4j {

// Why a Neo4j target is down: the network's reasons as for PostgreSQL, and
// the server's own (`unavailable`: HTTP 503 while it starts or stops, or
// Neo.TransientError.Database.DatabaseUnavailable for the database).
enum class DownReason {
  none,
  connecting,  // no attempt has ended yet
  refused,
  timeout,
  dns,
  auth_failed,  // HTTP 401/403, or a Neo.ClientError.Security.* code
  tls,
  protocol,  // not JSON, over the size limit, or JSON of an unexpected shape
  unavailable,
  other,
};
std::string_view to_string(DownReason reason) noexcept;
std::span<const std::string_view> down_reason_names() noexcept;

// The reason a Neo4j status code ("Neo.<classification>.<category>.<title>")
// stands for.
DownReason classify_status_code(std::string_view code);

// The discovery document (GET /).
struct Discovery {
  std::string version;
  std::string edition;  // "community", "enterprise"; "" when the server does not say
};
struct DiscoveryResult {
  std::optional<Discovery> discovery;
  std::string error;  // why the body is not a discovery document
};
DiscoveryResult parse_discovery(std::string_view body);

// The reply of POST /db/<db>/tx/commit with {"statements":[{"statement":"RETURN 1"}]}.
struct TxResult {
  DownReason reason = DownReason::none;  // none: the statement returned 1
  std::string code;                      // the first error's Neo4j status code, if any
  std::string error;                     // for logs and evidence: one short line
};
TxResult parse_tx_reply(unsigned http_status, std::string_view body);
// The request body of that transaction.
std::string_view return_one_request() noexcept;

// A cluster endpoint's answer (/db/<db>/cluster/available, .../writable).
enum class ClusterFlag {
  yes,     // 200 "true"
  no,      // 404 "false"
  absent,  // 404 with any other body: the server has no such endpoint (Community)
  bad,     // anything else
};
ClusterFlag parse_cluster_flag(unsigned http_status, std::string_view body);

// One database in /dbms/cluster/status, as the member asked sees it.
struct ClusterDatabase {
  std::string name;
  std::size_t voting_members = 0;
  bool healthy = false;
  bool leader_known = false;  // "leader" names a member
  bool core = false;          // a primary (a Raft voter), not a secondary
  std::optional<double> millis_since_leader_message;
};
struct ClusterStatusResult {
  std::optional<std::vector<ClusterDatabase>> databases;
  std::string error;
};
ClusterStatusResult parse_cluster_status(std::string_view body);

// What one round learnt while the server answered.
struct Round {
  Discovery discovery;
  std::string database;  // the configured database
  // From the cluster endpoint, or from the transaction (a DatabaseUnavailable
  // says no, a returned row says yes) where the server has no endpoint.
  std::optional<bool> available;
  std::optional<bool> writable;  // Enterprise only
  std::vector<ClusterDatabase> cluster;
};
void collect_round(const Round& round, SampleSink& out);

// The liveness series of a Neo4j target (neo4j_up and the reason state set,
// like redis_up and redis_connection_failure).
struct Liveness {
  bool up = false;
  DownReason reason = DownReason::connecting;
  std::map<DownReason, std::uint64_t> failures;
  std::optional<double> query_rtt_seconds;
  void emit(SampleSink& out) const;
};

}  // namespace pgvigil::neo4j
