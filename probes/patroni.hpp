#pragma once
// Patroni awareness: what a Patroni REST endpoint says about its cluster
// (GET /cluster) turned into samples. This file only parses; the daemon
// fetches the reply asynchronously (daemon/patroni_job.*) and hands it here.
//
// Patroni 3.0's /cluster reply looks like
//   {"members": [{"name": "a", "role": "leader", "state": "running",
//                 "host": "10.0.0.1", "port": 5432, "timeline": 1,
//                 "lag": 0 | "unknown", "pending_restart": true,
//                 "tags": {"nofailover": true}}, ...],
//    "pause": true, "scope": "main"}
// where "pause" appears only in maintenance mode and "scope" only in newer
// releases. The leader key in the DCS is what makes a member "leader": no such
// member means the cluster is unlocked (nobody may accept writes as primary).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/sample_sink.hpp"

namespace pgvigil {

struct PatroniMember {
  std::string name;
  std::string role;   // leader, standby_leader, replica, sync_standby, ...
  std::string state;  // running, streaming, stopped, starting, crashed, ...
  std::string host;
  std::optional<long long> port;
  std::optional<long long> timeline;
  std::optional<double> lag_bytes;  // absent when Patroni says "unknown" or nothing
  bool pending_restart = false;
  bool nofailover = false;
};

struct PatroniCluster {
  std::string scope;  // empty when the reply does not name it (Patroni < 3.0.3)
  bool paused = false;
  std::vector<PatroniMember> members;

  // The member holding the leader key (role leader or standby_leader), if any.
  const PatroniMember* leader() const noexcept;
};

// Parses a /cluster body. Never throws: on malformed JSON, a missing field or
// a field of the wrong type returns nullopt and sets *error to a message that
// names the place, e.g. "members[1].role is not a string".
std::optional<PatroniCluster> parse_patroni_cluster(std::string_view body, std::string* error);

// A member table in the spirit of `patronictl list`, for alert evidence.
std::string patroni_member_table(const PatroniCluster& cluster);

// One target's Patroni probe. Keeps what it needs between rounds (the last
// leader, to count leader changes), so there is one instance per target.
class PatroniProbe {
 public:
  // A reply arrived: parses it and writes every series. Returns false (and
  // writes patroni_up 0 and no member series) when the body cannot be used.
  bool collect_reply(std::string_view body, SampleSink& out);
  // The endpoint could not be asked (refused, timeout, HTTP error): patroni_up
  // 0, the leader-change counter, and the reason as evidence.
  void collect_failure(std::string_view why, SampleSink& out);

  // Why the last round failed ("" after a good one); never holds a secret
  // as long as `why` did not.
  const std::string& last_error() const noexcept { return last_error_; }
  double leader_changes() const noexcept { return leader_changes_; }

 private:
  void emit_common(SampleSink& out, bool up) const;

  std::string last_leader_;
  double leader_changes_ = 0;
  std::string last_error_;
};

// The evidence key holding the member table (or the fetch error).
inline constexpr std::string_view kPatroniEvidenceKey = "patroni.members";

}  // namespace pgvigil
