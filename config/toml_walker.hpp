#pragma once
// The generic half of reading pgvigil.toml: walking toml++ tables with typed
// readers that report their own errors (with file:line:column and the dotted
// key path), unknown-key checks with "did you mean", and the collected errors
// and warnings. It knows the config's value syntax (durations, sizes) but no
// section; the section parsers (parse_*.cpp) build on it.
#include <toml++/toml.h>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/http_url.hpp"
#include "config/parse.hpp"

namespace pgvigil::config {

// A value being read and where an error about it should point: the key
// itself when toml++ knows its position, else the value.
struct Field {
  std::string path;  // "target[1].name"
  const toml::node& node;
  toml::source_region at;
};

using FieldHandler = std::function<void(const Field&)>;

struct KeyHandler {
  std::string_view key;
  FieldHandler handle;
};

// text in double quotes, with '"' and '\' escaped and control characters
// replaced so an error stays on one line.
std::string quoted(std::string_view text);
// "a string", "an integer", ...: for "expected X, got Y".
std::string_view type_name(const toml::node& node);
// prefix.key, with the key quoted the way TOML would need it.
std::string join_path(std::string_view prefix, std::string_view key);
// " (did you mean \"name\"?)" for the closest of names, or "" when none is close.
std::string did_you_mean(std::string_view key, std::span<const std::string_view> names);
// True for http:// and https:// (any case).

class TomlWalker {
 public:
  explicit TomlWalker(std::string source_name) : source_name_(std::move(source_name)) {}

  const std::string& source_name() const noexcept { return source_name_; }

  // --- reporting ---
  void error(const toml::source_region& at, std::string key, std::string message);
  void error(const Field& field, std::string message);
  // An error about the whole file (line and column 0).
  void file_error(std::string message);
  void warn(const Field& field, std::string message);
  void file_warning(std::string message);
  void missing(const Field& table, std::string_view key);
  bool has_errors() const noexcept { return !errors_.empty(); }
  // Errors and warnings found by another walker (an included file's).
  void adopt(std::vector<ConfigError> errors, std::vector<std::string> warnings);
  // The errors sorted by position (stable), and the warnings; both moved out.
  std::vector<ConfigError> take_errors();
  std::vector<std::string> take_warnings() { return std::move(warnings_); }

  // --- walking tables ---
  static Field child(const std::string& prefix, const toml::key& key, const toml::node& node);
  static Field element(const Field& array_field, std::size_t index, const toml::node& node);
  // Runs the handler registered for each key; any other key is an error.
  void dispatch(const Field& table_field, std::initializer_list<KeyHandler> handlers);
  // Calls parse_item with each member of a table and its key.
  void each_member(const Field& table_field,
                   const std::function<void(const Field&, std::string_view)>& parse_item);
  // each_member for a table whose keys must be among names; any other key is
  // an error "unknown WHAT \"key\"" with a suggestion.
  void each_named_member(const Field& table_field, std::span<const std::string_view> names,
                         std::string_view what,
                         const std::function<void(const Field&, std::string_view)>& parse_item);
  // Calls parse_item for each table of an array of tables ([[name]]).
  void each_table(const Field& field, const std::function<void(const Field&)>& parse_item);

  // --- typed readers: each reports its own error and leaves `out` alone ---
  const toml::table* as_table(const Field& field);
  const std::string* as_string(const Field& field);
  void read_string(const Field& field, std::string& out, bool allow_empty = false);
  void read_string(const Field& field, std::optional<std::string>& out);
  std::optional<bool> as_bool(const Field& field);
  void read_bool(const Field& field, bool& out);
  std::optional<std::int64_t> as_integer(const Field& field, std::int64_t min, std::int64_t max);
  std::optional<Duration> as_duration(const Field& field, bool allow_zero);
  void read_duration(const Field& field, Duration& out, bool allow_zero = false);
  void read_duration(const Field& field, std::optional<Duration>& out, bool allow_zero = false);
  // An integer number of bytes or a size string ("16KB"), at least min.
  std::optional<std::uint64_t> as_size(const Field& field, std::uint64_t min);
  std::optional<std::vector<std::string>> as_strings(const Field& field);
  void read_strings(const Field& field, std::vector<std::string>& out);
  void read_choice(const Field& field, std::string& out,
                   const std::vector<std::string_view>& allowed);
  // A URL the HTTP client can use (config/http_url.hpp); with credentials
  // refused, user:password@ is an error. Messages show the URL redacted.
  void read_http_url(const Field& field, std::string& out,
                     UrlCredentials credentials = UrlCredentials::refused);
  // The same check for one string; returns the error message or "".
  static std::string http_url_problem(const std::string& url, UrlCredentials credentials);

 private:
  std::string source_name_;
  std::vector<ConfigError> errors_;
  std::vector<std::string> warnings_;
};

}  // namespace pgvigil::config
