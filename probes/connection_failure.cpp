#include "probes/connection_failure.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "config/text.hpp"

namespace pgvigil {

namespace {
constexpr std::array<std::string_view, 13> kFailureReasonNames{
    "none",        "connecting",    "refused",          "timeout",
    "dns",         "auth_failed",   "database_missing", "too_many_clients",
    "starting_up", "shutting_down", "recovery",         "ssl",
    "other"};
constexpr std::array<std::string_view, 4> kPingNames{"ok", "rejecting", "no_response",
                                                     "no_attempt"};

using config::icontains;

bool is_sqlstate_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

}  // namespace

std::string_view to_string(FailureReason reason) noexcept {
  return kFailureReasonNames[static_cast<std::size_t>(reason)];
}
std::span<const std::string_view> failure_reason_names() noexcept {
  return kFailureReasonNames;
}
std::string_view to_string(PingStatus status) noexcept {
  return kPingNames[static_cast<std::size_t>(status)];
}
std::span<const std::string_view> ping_status_names() noexcept {
  return kPingNames;
}

std::string extract_sqlstate(std::string_view message) {
  // Verbose messages read "...FATAL:  3D000: database ... does not exist".
  for (std::string_view severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    for (auto pos = message.find(severity); pos != std::string_view::npos;
         pos = message.find(severity, pos + 1)) {
      auto code = message.substr(pos + severity.size());
      if (code.size() >= 6 && code[5] == ':' &&
          std::all_of(code.begin(), code.begin() + 5, is_sqlstate_char))
        return std::string(code.substr(0, 5));
    }
  }
  return {};
}

FailureReason classify_connection_failure(std::string_view sqlstate, std::string_view message) {
  if (sqlstate == "28P01" || sqlstate == "28000") return FailureReason::auth_failed;
  if (sqlstate == "3D000") return FailureReason::database_missing;
  if (sqlstate == "53300") return FailureReason::too_many_clients;
  if (sqlstate == "57P03") {
    if (icontains(message, "starting up")) return FailureReason::starting_up;
    if (icontains(message, "shutting down")) return FailureReason::shutting_down;
    return FailureReason::recovery;
  }
  if (sqlstate == "57P01" || sqlstate == "57P02") return FailureReason::shutting_down;
  if (!sqlstate.empty()) {
    if (sqlstate.starts_with("08")) return FailureReason::other;
    return FailureReason::other;
  }
  // No SQLSTATE: the failure happened before the server said anything.
  if (icontains(message, "too many clients") ||
      icontains(message, "remaining connection slots are reserved"))
    return FailureReason::too_many_clients;
  if (icontains(message, "password authentication failed") ||
      icontains(message, "no password supplied"))
    return FailureReason::auth_failed;
  if (icontains(message, "Connection refused") || icontains(message, "No such file or directory"))
    return FailureReason::refused;
  if (icontains(message, "timeout") || icontains(message, "timed out"))
    return FailureReason::timeout;
  if (icontains(message, "could not translate host name") ||
      icontains(message, "Name or service not known"))
    return FailureReason::dns;
  if (icontains(message, "SSL")) return FailureReason::ssl;
  return FailureReason::other;
}

PingStatus ping_status_for(FailureReason reason, std::string_view sqlstate) noexcept {
  // PQping says "ok" whenever the server answered, even with an error, except
  // for "cannot connect now" (57P03), which is "rejecting".
  if (reason == FailureReason::none) return PingStatus::ok;
  if (sqlstate == "57P03") return PingStatus::rejecting;
  if (!sqlstate.empty()) return PingStatus::ok;
  switch (reason) {
    case FailureReason::auth_failed:
    case FailureReason::database_missing:
    case FailureReason::too_many_clients:
      return PingStatus::ok;
    case FailureReason::starting_up:
    case FailureReason::shutting_down:
    case FailureReason::recovery:
      return PingStatus::rejecting;
    default:
      return PingStatus::no_response;
  }
}

ConnectOutcome outcome_before_start(std::string message) {
  ConnectOutcome out;
  out.reason = classify_connection_failure("", message);
  out.ping =
      icontains(message, "invalid") ? PingStatus::no_attempt : ping_status_for(out.reason, "");
  out.message = std::move(message);
  return out;
}

}  // namespace pgvigil
