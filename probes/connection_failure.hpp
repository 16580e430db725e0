#pragma once
// Why a connection attempt failed, as the runbooks name it: pure
// classification of what libpq reported (SQLSTATE or client-side message),
// so the rules are unit-testable without a server. The session that makes
// the attempt lives in collect/pg_connection.*.
#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "config/text.hpp"

namespace pgvigil {

// Why a connection attempt failed, as the runbooks name it.
enum class FailureReason {
  none,
  connecting,  // no attempt has ended yet (the daemon or the target just started)
  refused,
  timeout,
  dns,
  auth_failed,
  database_missing,
  too_many_clients,
  starting_up,
  shutting_down,
  recovery,
  ssl,
  other,
};
std::string_view to_string(FailureReason reason) noexcept;
std::span<const std::string_view> failure_reason_names() noexcept;

// pg_isready's answer (PQping semantics), derived from a real attempt.
enum class PingStatus { ok, rejecting, no_response, no_attempt };
std::string_view to_string(PingStatus status) noexcept;
std::span<const std::string_view> ping_status_names() noexcept;

// Pulls the SQLSTATE out of a verbose libpq message ("FATAL:  3D000: ..."), or "".
std::string extract_sqlstate(std::string_view message);
// Classifies a failed attempt from its SQLSTATE (preferred) or message text.
FailureReason classify_connection_failure(std::string_view sqlstate, std::string_view message);
PingStatus ping_status_for(FailureReason reason, std::string_view sqlstate) noexcept;
// The first line of a libpq message (libpq prefixes multi-host attempts
// with "connection to server at ... failed: " and the server's FATAL follows
// on the same line, the part worth keeping), length-capped.
using config::first_line;

struct ConnectOutcome {
  bool ok = false;
  FailureReason reason = FailureReason::none;
  PingStatus ping = PingStatus::no_attempt;
  std::string sqlstate;
  std::string message;  // first line of libpq's message; never contains a password
  std::chrono::steady_clock::duration elapsed{};
};

// The outcome of an attempt libpq refused to start (bad parameters, an
// unusable host): classified from its message; pg_isready would not even
// have tried when the parameters are invalid.
ConnectOutcome outcome_before_start(std::string message);

}  // namespace pgvigil
