#include "probes/log_classifier.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "config/redaction.hpp"
#include "config/text.hpp"

namespace pgvigil {

namespace {

constexpr std::array<std::string_view, 13> kMessageSeverities{
    "PANIC", "FATAL",  "ERROR",  "WARNING", "NOTICE", "INFO",  "LOG",
    "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3",  "DEBUG4", "DEBUG5"};
// Lines that belong to the previous message in stderr output.
constexpr std::array<std::string_view, 6> kContinuationMarkers{"DETAIL",    "HINT",  "CONTEXT",
                                                               "STATEMENT", "QUERY", "LOCATION"};

// Both parts present, the second after the first ("lock file ... already exists").
bool icontains_in_order(std::string_view hay, std::string_view first,
                        std::string_view second) noexcept {
  auto at = config::ifind(hay, first);
  return at != std::string_view::npos &&
         config::ifind(hay, second, at + first.size()) != std::string_view::npos;
}

bool is_sqlstate(std::string_view code) noexcept {
  if (code.size() != 5) return false;
  bool has_digit = false;
  for (char c : code) {
    if (c >= '0' && c <= '9')
      has_digit = true;
    else if (c < 'A' || c > 'Z')
      return false;
  }
  // Every SQLSTATE has a digit; this keeps an upper-case word in a custom
  // log_line_prefix from being taken for one.
  return has_digit;
}

bool is_message_severity(std::string_view s) noexcept {
  return std::find(kMessageSeverities.begin(), kMessageSeverities.end(), s) !=
         kMessageSeverities.end();
}

std::string_view fallback_class(std::string_view severity) noexcept {
  if (severity == "PANIC") return "panic";
  if (severity == "FATAL") return "fatal";
  return "other";
}

// Statement and duration logging echo user SQL, which may contain any text:
// pattern matching on those would classify a query, not a server problem.
bool is_statement_echo(std::string_view message) noexcept {
  return message.starts_with("statement: ") || message.starts_with("duration: ") ||
         message.starts_with("execute ") || message.starts_with("parse ") ||
         message.starts_with("bind ");
}

std::string_view classify(std::string_view severity, std::string_view sqlstate,
                          std::string_view message) noexcept {
  if (!sqlstate.empty()) {
    auto by_code = log_class_for_sqlstate(sqlstate);
    if (!by_code.empty()) return by_code;
  }
  if (!is_statement_echo(message)) {
    auto by_text = log_class_for_message(message);
    if (!by_text.empty()) return by_text;
  }
  return fallback_class(severity);
}

// --- stderr ---------------------------------------------------------------

struct Marker {
  std::size_t at = std::string_view::npos;  // start of "SEVERITY:  "
  std::string_view word;
  bool continuation = false;
};

// The earliest "WORD:  " (two spaces, as elog.c writes) where WORD is a
// severity or a continuation marker, preceded by the start or a space.
Marker find_marker(std::string_view line) {
  Marker best;
  auto consider = [&](std::string_view word, bool continuation) {
    std::size_t from = 0;
    while (from < line.size()) {
      auto at = line.find(word, from);
      if (at == std::string_view::npos || at >= best.at) return;
      auto after = at + word.size();
      bool boundary = at == 0 || line[at - 1] == ' ';
      if (boundary && line.substr(after, 3) == ":  ") {
        best = {at, word, continuation};
        return;
      }
      from = at + 1;
    }
  };
  for (auto word : kMessageSeverities) consider(word, false);
  for (auto word : kContinuationMarkers) consider(word, true);
  return best;
}

LogClass classify_stderr(std::string_view line) {
  LogClass result;
  result.format = LogFormat::stderr_text;
  if (!line.empty() && (line.front() == '\t' || line.front() == ' ')) {
    result.continuation = true;  // a wrapped message or query text
    return result;
  }
  auto marker = find_marker(line);
  if (marker.at == std::string_view::npos) return result;  // not a log line
  if (marker.continuation) {
    result.continuation = true;
    return result;
  }
  result.severity = std::string(marker.word);
  // With %e in log_line_prefix the SQLSTATE is the token just before the marker.
  if (marker.at >= 6 && line[marker.at - 1] == ' ') {
    auto token_end = marker.at - 1;
    auto token_start = line.rfind(' ', token_end - 1);
    token_start = token_start == std::string_view::npos ? 0 : token_start + 1;
    auto token = line.substr(token_start, token_end - token_start);
    if (is_sqlstate(token)) result.sqlstate = std::string(token);
  }
  auto message = line.substr(marker.at + marker.word.size() + 3);
  result.log_class = classify(result.severity, result.sqlstate, message);
  return result;
}

// --- csvlog ---------------------------------------------------------------

// csvlog columns (0-based) as PostgreSQL 15 writes them.
constexpr std::size_t kCsvSeverity = 11;
constexpr std::size_t kCsvSqlstate = 12;
constexpr std::size_t kCsvMessage = 13;

std::optional<LogClass> classify_csv(std::string_view record) {
  auto fields = split_csv_record(record);
  if (fields.size() <= kCsvMessage || !is_message_severity(fields[kCsvSeverity]))
    return std::nullopt;
  LogClass result;
  result.format = LogFormat::csv;
  result.severity = fields[kCsvSeverity];
  if (is_sqlstate(fields[kCsvSqlstate])) result.sqlstate = fields[kCsvSqlstate];
  result.log_class = classify(result.severity, result.sqlstate, fields[kCsvMessage]);
  return result;
}

// --- jsonlog --------------------------------------------------------------

// A string member of a JSON object; nullptr when absent or not a string.
const std::string* string_member(const nlohmann::json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

// Cost (callgrind, -O2, the 167 lines of tests/data/logs/*.json): about 45k
// instructions a line (135 a byte) against 20k for the hand-written flat reader
// this replaced; a full 4MiB round (LogScanConfig::max_bytes_per_round) of
// jsonlog is then some 0.6G instructions instead of 0.25G. Kept for one JSON
// parser in the tree; measure again before optimising.
//
// jsonlog writes one flat object per line. PostgreSQL copies message bytes as
// they are, so a database in a non-UTF-8 encoding can put bytes in a line that
// JSON forbids; JSON's own syntax is ASCII, so such a line is read again with
// every non-ASCII byte made '?' (the patterns and fields we match are ASCII).
nlohmann::json parse_json_line(std::string_view line) {
  auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) return parsed;
  std::string ascii(line);
  for (char& c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return nlohmann::json::parse(ascii, nullptr, /*allow_exceptions=*/false);
}

std::optional<LogClass> classify_json(std::string_view line) {
  const nlohmann::json record = parse_json_line(line);
  if (!record.is_object()) return std::nullopt;  // also a discarded (unparsable) line
  const std::string* severity = string_member(record, "error_severity");
  if (severity == nullptr || !is_message_severity(*severity)) return std::nullopt;
  LogClass result;
  result.format = LogFormat::json;
  result.severity = *severity;
  if (const std::string* code = string_member(record, "state_code"); code && is_sqlstate(*code))
    result.sqlstate = *code;
  const std::string* message = string_member(record, "message");
  result.log_class = classify(result.severity, result.sqlstate,
                              message == nullptr ? std::string_view{} : *message);
  return result;
}

bool looks_like_csv(std::string_view line) noexcept {
  // csvlog starts with the timestamp followed directly by a comma:
  // "2026-11-22 05:42:18.356 UTC,..."; stderr has a space or bracket there.
  auto comma = line.find(',');
  auto space_bracket = line.find(" [");
  auto marker = line.find(":  ");
  return comma != std::string_view::npos && line.size() > 10 && line[4] == '-' &&
         (space_bracket == std::string_view::npos || comma < space_bracket) &&
         (marker == std::string_view::npos || comma < marker);
}

}  // namespace

std::string_view log_class_for_sqlstate(std::string_view sqlstate) noexcept {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kCodes{{
      {"XX001", "corruption"},        // data_corrupted
      {"XX002", "corruption"},        // index_corrupted
      {"53100", "disk_full"},         // disk_full
      {"53300", "too_many_clients"},  // too_many_connections
      {"F0001", "lock_file"},         // lock_file_exists
      {"28P01", "auth_failed"},       // invalid_password
      {"28000", "auth_failed"},       // invalid_authorization_specification
      {"3D000", "database_missing"},  // invalid_catalog_name
      {"53200", "out_of_memory"},     // out_of_memory
      {"40P01", "deadlock"},          // deadlock_detected
      {"XX000", ""},                  // internal_error: decided by the text
  }};
  for (const auto& [code, klass] : kCodes)
    if (code == sqlstate) return klass;
  return {};
}

std::string_view log_class_for_message(std::string_view message) noexcept {
  struct Pattern {
    std::string_view klass;
    std::string_view first;
    std::string_view second;  // must follow first when set
  };
  // Order matters: the more specific problem wins (a PANIC caused by a full
  // disk is disk_full; its severity label still says PANIC).
  static constexpr std::array<Pattern, 24> kPatterns{{
      {"corruption", "could not read block", ""},
      {"corruption", "invalid page in block", ""},
      {"corruption", "checksum verification failed", ""},
      {"corruption", "page verification failed", ""},
      {"corruption", "index \"", "contains unexpected zero page"},
      {"corruption", "is corrupted", ""},
      {"disk_full", "no space left on device", ""},
      {"disk_full", "could not extend file", ""},
      {"too_many_clients", "sorry, too many clients already", ""},
      {"too_many_clients", "remaining connection slots are reserved", ""},
      {"lock_file", "lock file", "already exists"},
      {"wrong_ownership", "has wrong ownership", ""},
      {"auth_failed", "password authentication failed", ""},
      {"database_missing", "database \"", "\" does not exist"},
      {"out_of_memory", "out of memory", ""},
      {"deadlock", "deadlock detected", ""},
      // A child of the postmaster died abnormally (kill -9, the OOM killer, a
      // segfault): with restart_after_crash the postmaster drops every session
      // and runs crash recovery without restarting itself, so its start time
      // does not move. These are the postmaster's own lines for that.
      {"crash", "was terminated by signal", ""},
      {"crash", "terminating any other active server processes", ""},
      {"crash", "all server processes terminated; reinitializing", ""},
      {"crash", "was not properly shut down; automatic recovery in progress", ""},
      {"replication", "terminating walreceiver", ""},
      {"replication", "requested wal segment", "has already been removed"},
      {"replication", "could not receive data from wal stream", ""},
      {"replication", "could not connect to the primary server", ""},
  }};
  for (const auto& pattern : kPatterns) {
    bool hit = pattern.second.empty() ? config::icontains(message, pattern.first)
                                      : icontains_in_order(message, pattern.first, pattern.second);
    if (hit) return pattern.klass;
  }
  return {};
}

std::vector<std::string> split_csv_record(std::string_view record) {
  std::vector<std::string> fields;
  std::string field;
  bool in_quotes = false;
  for (std::size_t i = 0; i < record.size(); ++i) {
    char c = record[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < record.size() && record[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\n') break;  // end of record; a trailing newline is not data
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return fields;
}

LogClass classify_log_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return {};
  if (line.front() == '{') {
    if (auto json = classify_json(line)) return *json;
  } else if (looks_like_csv(line)) {
    if (auto csv = classify_csv(line)) return *csv;
  }
  return classify_stderr(line);
}

std::string evidence_line(std::string_view line, std::size_t max_bytes) {
  const std::string masked = config::mask_secrets(line);
  return std::string(config::clip_utf8(masked, max_bytes));
}

}  // namespace pgvigil
