#pragma once
// Classifies one PostgreSQL log record (stderr, csvlog or jsonlog) into a
// severity and a problem class. Pure: no I/O, never throws on odd input.
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil {

enum class LogFormat { stderr_text, csv, json };

// The problem classes, in the order they are documented and emitted.
inline constexpr std::array<std::string_view, 14> kLogClasses{"panic",         "fatal",
                                                              "crash",         "corruption",
                                                              "disk_full",     "too_many_clients",
                                                              "lock_file",     "wrong_ownership",
                                                              "auth_failed",   "database_missing",
                                                              "out_of_memory", "deadlock",
                                                              "replication",   "other"};

struct LogClass {
  // Upper-case PostgreSQL severity (PANIC, FATAL, ERROR, WARNING, LOG, ...);
  // empty when the record is not a message: a continuation (DETAIL, HINT,
  // STATEMENT, a tab-indented line) or text that is not a log line at all.
  std::string severity;
  std::string_view log_class = "other";  // one of kLogClasses
  std::string sqlstate;                  // when the record carries one
  LogFormat format = LogFormat::stderr_text;
  bool continuation = false;  // DETAIL/HINT/... or an indented follow-up line
};

LogClass classify_log_line(std::string_view line);

// Maps a SQLSTATE to a class; empty when the code says nothing specific.
std::string_view log_class_for_sqlstate(std::string_view sqlstate) noexcept;
// Matches the message text (case-insensitive) against known patterns; empty if none.
std::string_view log_class_for_message(std::string_view message) noexcept;

// config::mask_secrets (password=..., user:pass@ in URIs), then cut to at most max_bytes without
// splitting a UTF-8 sequence.
std::string evidence_line(std::string_view line, std::size_t max_bytes = 512);

// Splits one CSV record (RFC 4180 quoting, embedded newlines allowed) into fields.
std::vector<std::string> split_csv_record(std::string_view record);

}  // namespace pgvigil
