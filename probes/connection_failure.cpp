#include "probes/connection_failure.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace pgvigil {

namespace {
constexpr std::array<std::string_view, 12> kFailureReasonNames{"none",
                                                               "refused",
                                                               "timeout",
                                                               "dns",
                                                               "auth_failed",
                                                               "database_missing",
                                                               "too_many_clients",
                                                               "starting_up",
                                                               "shutting_down",
                                                               "recovery",
                                                               "ssl",
                                                               "other"};
constexpr std::array<std::string_view, 4> kPingNames{"ok", "rejecting", "no_response",
                                                     "no_attempt"};

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

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

std::string first_line(std::string_view message) {
  // libpq prefixes multi-host attempts with "connection to server at ... failed: ";
  // the server's FATAL follows on the same line, which is the part worth keeping.
  auto end = message.find('\n');
  std::string line(message.substr(0, end));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  constexpr std::size_t kMax = 300;
  if (line.size() > kMax) line.resize(kMax);
  return line;
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
    if (contains_nocase(message, "starting up")) return FailureReason::starting_up;
    if (contains_nocase(message, "shutting down")) return FailureReason::shutting_down;
    return FailureReason::recovery;
  }
  if (sqlstate == "57P01" || sqlstate == "57P02") return FailureReason::shutting_down;
  if (!sqlstate.empty()) {
    if (sqlstate.starts_with("08")) return FailureReason::other;
    return FailureReason::other;
  }
  // No SQLSTATE: the failure happened before the server said anything.
  if (contains_nocase(message, "too many clients") ||
      contains_nocase(message, "remaining connection slots are reserved"))
    return FailureReason::too_many_clients;
  if (contains_nocase(message, "password authentication failed") ||
      contains_nocase(message, "no password supplied"))
    return FailureReason::auth_failed;
  if (contains_nocase(message, "Connection refused") ||
      contains_nocase(message, "No such file or directory"))
    return FailureReason::refused;
  if (contains_nocase(message, "timeout") || contains_nocase(message, "timed out"))
    return FailureReason::timeout;
  if (contains_nocase(message, "could not translate host name") ||
      contains_nocase(message, "Name or service not known"))
    return FailureReason::dns;
  if (contains_nocase(message, "SSL")) return FailureReason::ssl;
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
  out.ping = contains_nocase(message, "invalid") ? PingStatus::no_attempt
                                                 : ping_status_for(out.reason, "");
  out.message = std::move(message);
  return out;
}

}  // namespace pgvigil
