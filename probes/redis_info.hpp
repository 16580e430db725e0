#pragma once
// Redis targets, the pure half: INFO text -> samples with redis_exporter's
// names, the down reasons, and the classification of Redis error replies.
// The session that talks RESP lives in collect/redis_session.*; everything
// here is testable with INFO captured from a real redis-server
// (tests/data/redis/).
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/sample_sink.hpp"

namespace pgvigil::redis {

// Why a Redis target is down: the network's reasons as for PostgreSQL, and
// the server's own error replies (LOADING, BUSY, MASTERDOWN).
enum class DownReason {
  none,
  connecting,  // no attempt has ended yet
  refused,
  timeout,
  dns,
  auth_failed,
  loading,     // LOADING: the dataset is being loaded into memory
  busy,        // BUSY: a script or function runs past busy-reply-threshold
  masterdown,  // MASTERDOWN: a replica with replica-serve-stale-data no
  protocol,    // a reply that breaks RESP, or INFO that is not key:value
  other,
};
std::string_view to_string(DownReason reason) noexcept;
std::span<const std::string_view> down_reason_names() noexcept;

// The reason a Redis error reply ("-ERR ...", "-NOAUTH ...") stands for.
DownReason classify_error_reply(std::string_view error);

// INFO's text: "# Section" headers, "key:value" lines, CRLF or LF.
struct Info {
  std::map<std::string, std::string, std::less<>> fields;
  // The Keyspace section: "db0" -> keys, expires.
  struct Keyspace {
    std::string db;
    double keys = 0;
    double expires = 0;
  };
  std::vector<Keyspace> keyspace;
  std::optional<std::string_view> get(std::string_view key) const;
  std::optional<double> number(std::string_view key) const;
};
struct InfoResult {
  std::optional<Info> info;
  std::string error;  // why the text is not INFO (never quotes more than a short line)
};
InfoResult parse_info(std::string_view text);

// What CONFIG GET said, when the server allows it (a restricted ACL user or
// a renamed CONFIG command does not): INFO's own fields are used otherwise.
struct ConfigValues {
  std::optional<double> maxmemory;
  std::optional<double> maxclients;
};

// One round's samples from INFO (and CONFIG GET).
void collect_info(const Info& info, const ConfigValues& config, SampleSink& out);

// The liveness series of a Redis target (redis_up and the reason state set,
// like pg_up and pg_connection_failure for PostgreSQL).
struct Liveness {
  bool up = false;
  DownReason reason = DownReason::connecting;
  std::map<DownReason, std::uint64_t> failures;
  std::optional<double> connect_seconds;
  std::optional<double> rtt_seconds;
  void emit(SampleSink& out) const;
};

}  // namespace pgvigil::redis
