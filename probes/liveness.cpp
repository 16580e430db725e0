#include "probes/liveness.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <ctime>

namespace pgvigil {

namespace {
double seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
std::string utc_text(double unix_seconds) {
  const auto whole = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm parts{};
  gmtime_r(&whole, &parts);
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", parts);
}
std::string short_version(const std::string& version) {
  auto end = version.find(' ');
  return version.substr(0, end);
}
}  // namespace

LivenessState::LivenessState(TimePoint started) : since_(started), down_since_(started) {}

void LivenessState::set_up(bool up, TimePoint now) {
  if (up == up_ && ever_changed_) return;
  ++revision_;
  up_ = up;
  ever_changed_ = true;
  since_ = now;
  (up ? up_since_ : down_since_) = now;
}

void LivenessState::on_connect(const ConnectOutcome& outcome, TimePoint now) {
  ++revision_;
  ping_ = outcome.ping;
  if (outcome.ok) {
    reason_ = FailureReason::none;
    last_error_.clear();
    connect_seconds_ = seconds(outcome.elapsed);
    // pg_up turns 1 only when the first trivial query answers (on_ping).
    return;
  }
  reason_ = outcome.reason == FailureReason::none ? FailureReason::other : outcome.reason;
  last_error_ = outcome.message;
  ++failures_[reason_];
  set_up(false, now);
}

void LivenessState::on_lost(TimePoint now, FailureReason reason, std::string_view message) {
  reason_ = reason == FailureReason::none || reason == FailureReason::connecting
                ? FailureReason::other
                : reason;
  ++revision_;
  ping_ = PingStatus::no_response;
  last_error_ = "the monitoring connection was lost";
  if (!message.empty()) {
    last_error_ += ": ";
    last_error_ += message;
  }
  set_up(false, now);
}

bool LivenessState::on_ping(std::chrono::steady_clock::duration rtt, bool in_recovery,
                            TimePoint now) {
  const bool flipped = in_recovery_.has_value() && *in_recovery_ != in_recovery;
  if (!rtt_seconds_ || ping_ != PingStatus::ok || reason_ != FailureReason::none ||
      in_recovery_ != in_recovery)
    ++revision_;
  rtt_seconds_ = seconds(rtt);
  ping_ = PingStatus::ok;
  reason_ = FailureReason::none;
  set_up(true, now);
  if (flipped) ++role_changes_;
  in_recovery_ = in_recovery;
  return flipped;
}

void LivenessState::on_server_info(const ServerInfo& info,
                                   std::optional<double> postmaster_start_seconds, TimePoint now) {
  ++revision_;
  if (!info.system_identifier.empty()) {
    if (!system_identifier_.empty() && info.system_identifier != system_identifier_) {
      previous_system_identifier_ = system_identifier_;
      system_identifier_changed_at_ = now;
      ++system_identifier_changes_;
    }
    system_identifier_ = info.system_identifier;
  }
  version_ = info.version;
  version_num_ = info.version_num;
  in_recovery_ = info.in_recovery;
  if (postmaster_start_seconds) {
    // Read at every connection: a new start time is a new postmaster, even
    // when the restart fell between two alert evaluations or scrapes.
    if (postmaster_start_ && *postmaster_start_ != *postmaster_start_seconds) {
      previous_postmaster_start_ = postmaster_start_;
      ++postmaster_restarts_;
    }
    postmaster_start_ = postmaster_start_seconds;
  }
}

void LivenessState::emit(SampleSink& out) const {
  out.gauge("pg_up",
            "1 when pgvigil's monitoring connection works and a trivial query answered "
            "within its deadline, else 0. Served from the last probe; a scrape never queries "
            "PostgreSQL.",
            {}, up_ ? 1 : 0);
  out.state_set("pg_isready_status", "pg_isready's answer (PQping semantics) as a state set.", {},
                "status", ping_status_names(), to_string(ping_));
  out.state_set("pg_connection_failure",
                "Why the target cannot be reached, as a state set; reason=\"none\" when connected, "
                "\"connecting\" until the first attempt ends.",
                {}, "reason", failure_reason_names(), to_string(reason_));
  for (auto name : failure_reason_names()) {
    if (name == "none" || name == "connecting") continue;  // not failures
    std::uint64_t count = 0;
    for (const auto& [reason, n] : failures_)
      if (to_string(reason) == name) count = n;
    out.counter("pg_connection_failures_total", "Failed connection attempts by classified reason.",
                {{"reason", std::string(name)}}, static_cast<double>(count));
  }
  if (up_since_ != TimePoint{})
    out.gauge("pg_up_since_timestamp_seconds", "When pg_up last turned 1 (unix time).", {},
              seconds(up_since_));
  if (!up_)
    out.gauge("pg_down_since_timestamp_seconds",
              "When pg_up last turned 0 (unix time; daemon start if never up).", {},
              seconds(down_since_));
  out.counter("pg_role_changes_total",
              "Recovery-state flips seen on this target (promotion, failover, demotion).", {},
              static_cast<double>(role_changes_));
  out.counter("pg_postmaster_restarts_total",
              "Postmaster restarts seen: the start time read at a connection differed from the "
              "one read before.",
              {}, static_cast<double>(postmaster_restarts_));
  if (postmaster_start_ && previous_postmaster_start_)
    out.evidence("server.restart",
                 "postmaster start time before: " + utc_text(*previous_postmaster_start_) +
                     "\npostmaster start time now: " + utc_text(*postmaster_start_) +
                     "\nrestarts seen since pgvigil started: " +
                     std::to_string(postmaster_restarts_) + "\n");
  out.counter("pg_system_identifier_changes_total",
              "Changes of the database system identifier seen on this target: another cluster "
              "answers at its address (re-initdb, a lost volume, pg_upgrade).",
              {}, static_cast<double>(system_identifier_changes_));
  if (!system_identifier_.empty()) {
    std::string text = "system identifier now: " + system_identifier_ + "\n";
    if (system_identifier_changes_ > 0)
      text +=
          "previous system identifier: " + previous_system_identifier_ +
          "\nchanged at: " + utc_text(seconds(system_identifier_changed_at_)) +
          "\nchanges seen since pgvigil started: " + std::to_string(system_identifier_changes_) +
          "\n";
    out.evidence("server.system_identifier", std::move(text));
  }
  if (connect_seconds_)
    out.gauge("pg_connect_duration_seconds", "Time the last successful connection took.", {},
              *connect_seconds_);
  if (!up_) return;
  if (rtt_seconds_)
    out.gauge("pg_probe_rtt_seconds", "Round-trip time of the last liveness query.", {},
              *rtt_seconds_);
  if (postmaster_start_)
    out.gauge("pg_postmaster_start_time_seconds", "Time at which the postmaster started.", {},
              *postmaster_start_);
  if (!system_identifier_.empty())
    out.gauge("pg_control_system_info",
              "The database system identifier (pg_control_system()) as a label; the value is "
              "always 1.",
              {{"system_identifier", system_identifier_}}, 1);
  if (in_recovery_) {
    out.gauge("pg_replication_is_replica", "1 when the server is in recovery (a standby).", {},
              *in_recovery_ ? 1 : 0);
    if (!version_.empty()) {
      out.gauge("pg_server_info", "Facts about the server; the value is always 1.",
                {{"version", short_version(version_)},
                 {"server_version_num", std::to_string(version_num_)},
                 {"role", *in_recovery_ ? "replica" : "primary"}},
                1);
      out.gauge("pg_static", "Version string as reported by postgres (postgres_exporter compat).",
                {{"version", version_}, {"short_version", short_version(version_)}}, 1);
    }
  }
}

}  // namespace pgvigil
