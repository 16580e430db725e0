#pragma once
// pgbouncer targets, the pure half: the admin console's SHOW statements, their
// results -> samples with pgbouncer_exporter's names, the down reasons and
// their classification. The session that talks to the admin console lives in
// collect/pgbouncer_session.*; everything here is testable with SHOW output
// captured from a real pgbouncer (tests/data/pgbouncer/).
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/connection_failure.hpp"
#include "probes/probe.hpp"
#include "probes/query_result.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil::pgbouncer {

// Why a pgbouncer target is down: the network's reasons as for PostgreSQL,
// and what pgbouncer itself refuses (max_client_conn reached).
enum class DownReason {
  none,
  connecting,  // no attempt has ended yet
  refused,
  timeout,
  dns,
  auth_failed,       // wrong password, or a user that is neither admin_users nor stats_users
  tls,               // the TLS handshake failed (sslmode)
  too_many_clients,  // "no more connections allowed (max_client_conn)"
  protocol,          // a SHOW result without a column every version has, or not a number
  other,
};
std::string_view to_string(DownReason reason) noexcept;
std::span<const std::string_view> down_reason_names() noexcept;

// A failed connection attempt or a lost connection, as libpq reported it.
// pgbouncer sends SQLSTATE 08P01 for nearly every refusal, so its own words
// decide where the generic classification (probes/connection_failure) says
// only "other".
DownReason classify_failure(FailureReason generic, std::string_view message);

// The statements of one round, in the order collect() expects their results.
// One statement each: the admin console speaks only the simple protocol.
const std::vector<Query>& queries();

struct CollectResult {
  bool ok = false;
  DownReason reason = DownReason::none;  // when !ok: protocol for a bad result
  std::string error;                     // why the round failed (never a password)
  std::string version;                   // "1.18.0", from SHOW VERSION
};
// One round's samples from the results of queries(), matched by column name.
// Columns a newer pgbouncer adds are ignored; a missing column that every
// supported version has, or a value that is not a number, fails the round
// (ok = false): `out` may then hold part of it and is to be discarded. A NULL
// value emits no sample.
CollectResult collect(std::span<const QueryResult> results, SampleSink& out);

// The liveness series of a pgbouncer target (pgbouncer_up and the reason
// state set, like pg_up and pg_connection_failure for PostgreSQL).
struct Liveness {
  bool up = false;
  DownReason reason = DownReason::connecting;
  std::map<DownReason, std::uint64_t> failures;
  std::optional<double> connect_seconds;
  std::optional<double> round_seconds;
  void emit(SampleSink& out) const;
};

}  // namespace pgvigil::pgbouncer
