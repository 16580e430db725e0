#include "config/toml_walker.hpp"

#include <algorithm>

#include "config/redaction.hpp"
#include "config/text.hpp"
#include "config/units.hpp"

namespace pgvigil::config {
namespace {

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '-';
  });
}

// Keys in error paths are written the way TOML would need them.
std::string path_key(std::string_view key) {
  return is_bare_key(key) ? std::string(key) : quoted(key);
}

std::string index_path(std::string_view prefix, std::size_t index) {
  return std::string(prefix) + "[" + std::to_string(index) + "]";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string join_path(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return path_key(key);
  return std::string(prefix) + "." + path_key(key);
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';  // keep errors on one line
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string did_you_mean(std::string_view key, std::span<const std::string_view> names) {
  std::string_view best;
  std::size_t best_distance = 3;  // only suggest close matches
  for (const auto& name : names) {
    const std::size_t distance = edit_distance(key, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = name;
    }
  }
  return best.empty() ? std::string{} : " (did you mean " + quoted(best) + "?)";
}

// --- reporting ---

void TomlWalker::error(const toml::source_region& at, std::string key, std::string message) {
  errors_.push_back({source_name_, static_cast<std::int64_t>(at.begin.line),
                     static_cast<std::int64_t>(at.begin.column), std::move(key),
                     std::move(message)});
}

void TomlWalker::error(const Field& field, std::string message) {
  error(field.at, field.path, std::move(message));
}

void TomlWalker::file_error(std::string message) {
  errors_.push_back({source_name_, 0, 0, "", std::move(message)});
}

void TomlWalker::warn(const Field& field, std::string message) {
  warnings_.push_back(ConfigError{source_name_, static_cast<std::int64_t>(field.at.begin.line),
                                  static_cast<std::int64_t>(field.at.begin.column), field.path,
                                  std::move(message)}
                          .to_string());
}

void TomlWalker::file_warning(std::string message) {
  warnings_.push_back(source_name_ + ":0:0: " + message);
}

void TomlWalker::missing(const Field& table, std::string_view key) {
  error(table.at, join_path(table.path, key), "missing required key");
}

void TomlWalker::adopt(std::vector<ConfigError> errors, std::vector<std::string> warnings) {
  for (auto& e : errors) errors_.push_back(std::move(e));
  for (auto& w : warnings) warnings_.push_back(std::move(w));
}

std::vector<ConfigError> TomlWalker::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

// --- walking tables ---

Field TomlWalker::child(const std::string& prefix, const toml::key& key, const toml::node& node) {
  const bool key_has_position = key.source().begin.line != 0;
  return Field{join_path(prefix, key.str()), node, key_has_position ? key.source() : node.source()};
}

Field TomlWalker::element(const Field& array_field, std::size_t index, const toml::node& node) {
  return Field{index_path(array_field.path, index), node, node.source()};
}

// Runs the handler registered for each key; any other key is an error.
void TomlWalker::dispatch(const Field& table_field, std::initializer_list<KeyHandler> handlers) {
  const toml::table* table = as_table(table_field);
  if (table == nullptr) return;
  for (auto&& [key, node] : *table) {
    const Field field = child(table_field.path, key, node);
    // Named, because clang 14 cannot capture a structured binding in a lambda.
    const std::string_view name = key.str();
    const auto handler = std::find_if(handlers.begin(), handlers.end(),
                                      [&](const KeyHandler& h) { return h.key == name; });
    if (handler == handlers.end()) {
      std::vector<std::string_view> known;
      for (const auto& h : handlers) known.push_back(h.key);
      error(field, "unknown key" + did_you_mean(key.str(), known));
    } else {
      handler->handle(field);
    }
  }
}

const toml::table* TomlWalker::as_table(const Field& field) {
  if (const auto* table = field.node.as_table()) return table;
  error(field, "expected a table, got " + std::string(type_name(field.node)));
  return nullptr;
}

const std::string* TomlWalker::as_string(const Field& field) {
  if (const auto* value = field.node.as_string()) return &value->get();
  error(field, "expected a string, got " + std::string(type_name(field.node)));
  return nullptr;
}

void TomlWalker::read_string(const Field& field, std::string& out, bool allow_empty) {
  const std::string* value = as_string(field);
  if (value == nullptr) return;
  if (!allow_empty && value->empty()) {
    error(field, "must not be empty");
    return;
  }
  out = *value;
}

void TomlWalker::read_string(const Field& field, std::optional<std::string>& out) {
  if (const std::string* text = as_string(field)) {
    if (text->empty()) {
      error(field, "must not be empty");
    } else {
      out = *text;
    }
  }
}

std::optional<bool> TomlWalker::as_bool(const Field& field) {
  if (const auto* value = field.node.as_boolean()) return value->get();
  error(field, "expected a boolean (true or false), got " + std::string(type_name(field.node)));
  return std::nullopt;
}

void TomlWalker::read_bool(const Field& field, bool& out) {
  if (auto value = as_bool(field)) out = *value;
}

std::optional<std::int64_t> TomlWalker::as_integer(const Field& field, std::int64_t min,
                                                   std::int64_t max) {
  const auto* value = field.node.as_integer();
  if (value == nullptr) {
    error(field, "expected an integer, got " + std::string(type_name(field.node)));
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    error(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                     ", got " + std::to_string(value->get()));
    return std::nullopt;
  }
  return value->get();
}

std::optional<Duration> TomlWalker::as_duration(const Field& field, bool allow_zero) {
  const auto* text = field.node.as_string();
  if (text == nullptr) {
    error(field,
          "expected a duration string such as \"30s\", got " + std::string(type_name(field.node)));
    return std::nullopt;
  }
  const auto duration = parse_duration(text->get());
  if (!duration) {
    error(field, "invalid duration " + quoted(text->get()) +
                     ": use whole numbers with units d, h, m, s, ms, largest first "
                     "(e.g. \"500ms\", \"30s\", \"1h30m\")");
    return std::nullopt;
  }
  if (!allow_zero && duration->count() == 0) {
    error(field, "must be greater than 0s");
    return std::nullopt;
  }
  return duration;
}

void TomlWalker::read_duration(const Field& field, Duration& out, bool allow_zero) {
  if (auto value = as_duration(field, allow_zero)) out = *value;
}

void TomlWalker::read_duration(const Field& field, std::optional<Duration>& out, bool allow_zero) {
  if (auto value = as_duration(field, allow_zero)) out = *value;
}

std::optional<std::uint64_t> TomlWalker::as_size(const Field& field, std::uint64_t min) {
  std::optional<std::uint64_t> bytes;
  if (const auto* number = field.node.as_integer()) {
    if (number->get() >= 0) bytes = static_cast<std::uint64_t>(number->get());
    if (!bytes) {
      error(field, "must not be negative");
      return std::nullopt;
    }
  } else if (const auto* text = field.node.as_string()) {
    bytes = parse_size(text->get());
    if (!bytes) {
      error(field, "invalid size " + quoted(text->get()) +
                       ": use a whole number of bytes, optionally with a unit B, KB, MB, GB, "
                       "TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)");
      return std::nullopt;
    }
  } else {
    error(field, "expected a size such as \"16KB\" or a number of bytes, got " +
                     std::string(type_name(field.node)));
    return std::nullopt;
  }
  if (*bytes < min) {
    error(field, "must be at least " + format_size(min));
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::vector<std::string>> TomlWalker::as_strings(const Field& field) {
  const auto* array = field.node.as_array();
  if (array == nullptr) {
    error(field, "expected an array of strings, got " + std::string(type_name(field.node)));
    return std::nullopt;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const Field item = element(field, i, *array->get(i));
    if (const std::string* value = as_string(item)) {
      if (value->empty()) {
        error(item, "must not be empty");
        ok = false;
      }
      values.push_back(*value);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return values;
}

void TomlWalker::read_strings(const Field& field, std::vector<std::string>& out) {
  if (auto values = as_strings(field)) out = std::move(*values);
}

void TomlWalker::read_choice(const Field& field, std::string& out,
                             const std::vector<std::string_view>& allowed) {
  const std::string* value = as_string(field);
  if (value == nullptr) return;
  if (std::find(allowed.begin(), allowed.end(), *value) == allowed.end()) {
    std::string list;
    for (const auto& option : allowed) list += (list.empty() ? "" : ", ") + quoted(option);
    error(field, "must be one of " + list + ", got " + quoted(*value));
    return;
  }
  out = *value;
}

void TomlWalker::each_member(
    const Field& table_field,
    const std::function<void(const Field&, std::string_view)>& parse_item) {
  const toml::table* table = as_table(table_field);
  if (table == nullptr) return;
  for (auto&& [key, node] : *table) parse_item(child(table_field.path, key, node), key.str());
}

void TomlWalker::each_named_member(
    const Field& table_field, std::span<const std::string_view> names, std::string_view what,
    const std::function<void(const Field&, std::string_view)>& parse_item) {
  each_member(table_field, [&](const Field& field, std::string_view key) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      error(field, "unknown " + std::string(what) + " " + quoted(key) + did_you_mean(key, names));
    } else {
      parse_item(field, key);
    }
  });
}

void TomlWalker::each_table(const Field& field,
                            const std::function<void(const Field&)>& parse_item) {
  const auto* array = field.node.as_array();
  // toml++ does not count an empty array as an array of tables.
  if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
    error(field, "expected an array of tables ([[" + field.path.substr(field.path.rfind('.') + 1) +
                     "]]), got " + std::string(type_name(field.node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) parse_item(element(field, i, *array->get(i)));
}
std::string TomlWalker::http_url_problem(const std::string& url, UrlCredentials credentials) {
  std::string why;
  if (parse_http_url(url, &why, credentials)) return {};
  return "not a usable http:// or https:// URL (" + why + "): " + quoted(redact_url_userinfo(url));
}

void TomlWalker::read_http_url(const Field& field, std::string& out, UrlCredentials credentials) {
  const std::string* value = as_string(field);
  if (value == nullptr) return;
  if (auto problem = http_url_problem(*value, credentials); !problem.empty()) {
    error(field, std::move(problem));
    return;
  }
  out = *value;
}
}  // namespace pgvigil::config
