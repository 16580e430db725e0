#pragma once
// The liveness state of one target: pg_up and friends. Pure bookkeeping fed by
// the target monitor (connect outcomes, lost connections, trivial-query pings),
// so the rules "why is it down" and "when did it change" are unit-testable.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "probes/connection_failure.hpp"
#include "probes/probe.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil {

class LivenessState {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit LivenessState(TimePoint started);

  void on_connect(const ConnectOutcome& outcome, TimePoint now);
  // The established connection broke (EOF, reset, deadline): `reason` as
  // classified from libpq's message (timeout for a deadline), `message` its
  // text. The immediate reconnect attempt refines it.
  void on_lost(TimePoint now, FailureReason reason = FailureReason::other,
               std::string_view message = {});
  // The trivial query answered. Returns true when the recovery state flipped
  // (a failover or promotion), so the caller re-reads the server's facts.
  bool on_ping(std::chrono::steady_clock::duration rtt, bool in_recovery, TimePoint now);
  void on_server_info(const ServerInfo& info, std::optional<double> postmaster_start_seconds,
                      TimePoint now = {});

  bool up() const noexcept { return up_; }
  FailureReason reason() const noexcept { return reason_; }
  PingStatus ping() const noexcept { return ping_; }
  const std::string& last_error() const noexcept { return last_error_; }
  std::uint64_t role_changes() const noexcept { return role_changes_; }
  std::uint64_t system_identifier_changes() const noexcept { return system_identifier_changes_; }
  std::optional<bool> in_recovery() const noexcept { return in_recovery_; }
  TimePoint since() const noexcept { return since_; }

  void emit(SampleSink& out) const;
  // Moves on every change emit() would show except the round-trip time:
  // a tick that moves only that updates one sample instead of the round.
  std::uint64_t revision() const noexcept { return revision_; }
  std::optional<double> rtt_seconds() const noexcept { return rtt_seconds_; }

 private:
  void set_up(bool up, TimePoint now);

  std::uint64_t revision_ = 0;
  bool up_ = false;
  bool ever_changed_ = false;
  TimePoint since_;
  TimePoint up_since_{};
  TimePoint down_since_{};
  FailureReason reason_ = FailureReason::connecting;  // until the first attempt ends
  PingStatus ping_ = PingStatus::no_attempt;
  std::string last_error_;
  std::map<FailureReason, std::uint64_t> failures_;
  std::optional<bool> in_recovery_;
  std::uint64_t role_changes_ = 0;
  std::optional<double> connect_seconds_;
  std::optional<double> rtt_seconds_;
  std::optional<double> postmaster_start_;
  std::optional<double> previous_postmaster_start_;  // before the latest restart
  std::uint64_t postmaster_restarts_ = 0;
  std::string version_;
  int version_num_ = 0;
  // The cluster's identity across connections: a change means another
  // cluster answers at this address (re-initdb, a lost volume, pg_upgrade).
  std::string system_identifier_;
  std::string previous_system_identifier_;
  TimePoint system_identifier_changed_at_{};
  std::uint64_t system_identifier_changes_ = 0;
};

}  // namespace pgvigil
