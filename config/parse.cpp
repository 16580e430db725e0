#include "config/parse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>

#include "config/names.hpp"

namespace pgvigil::config {

std::string ConfigError::to_string() const {
  std::string text = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key.empty()) text += key + ": ";
  text += message;
  return text;
}

namespace {

constexpr bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '-';
  });
}

// Keys in error paths are written the way TOML would need them.
std::string path_key(std::string_view key) {
  if (is_bare_key(key)) return std::string(key);
  std::string quoted = "\"";
  for (const char c : key) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string join_path(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return path_key(key);
  return std::string(prefix) + "." + path_key(key);
}

std::string index_path(std::string_view prefix, std::size_t index) {
  return std::string(prefix) + "[" + std::to_string(index) + "]";
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

template <typename Names>
std::string did_you_mean(std::string_view key, const Names& names) {
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

// --- conninfo scanning (libpq keyword/value syntax) -------------------------

struct ConninfoPair {
  std::string keyword;
  std::string value;        // with quotes and escapes resolved
  std::size_t value_begin;  // raw span in the text, quotes included
  std::size_t value_end;
};

struct ConninfoScan {
  std::vector<ConninfoPair> pairs;
  bool ok = true;
  std::size_t error_at = 0;  // start of the pair that could not be read
};

ConninfoScan scan_conninfo(std::string_view text) {
  ConninfoScan scan;
  std::size_t pos = 0;
  const auto skip_space = [&] {
    while (pos < text.size() && is_space(text[pos])) ++pos;
  };
  while (true) {
    skip_space();
    if (pos >= text.size()) break;
    const std::size_t pair_begin = pos;
    const auto fail = [&] {
      scan.ok = false;
      scan.error_at = pair_begin;
      return scan;
    };
    while (pos < text.size() && !is_space(text[pos]) && text[pos] != '=') ++pos;
    ConninfoPair pair;
    pair.keyword = std::string(text.substr(pair_begin, pos - pair_begin));
    skip_space();
    if (pair.keyword.empty() || pos >= text.size() || text[pos] != '=') return fail();
    ++pos;
    skip_space();
    pair.value_begin = pos;
    if (pos < text.size() && text[pos] == '\'') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        if (text[pos] == '\\' && pos + 1 < text.size()) {
          pair.value += text[pos + 1];
          pos += 2;
        } else if (text[pos] == '\'') {
          ++pos;
          closed = true;
          break;
        } else {
          pair.value += text[pos++];
        }
      }
      if (!closed) return fail();
    } else {
      while (pos < text.size() && !is_space(text[pos])) {
        if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
        pair.value += text[pos++];
      }
    }
    pair.value_end = pos;
    scan.pairs.push_back(std::move(pair));
  }
  return scan;
}

bool is_conninfo_uri(std::string_view text) {
  text = trim(text);
  return istarts_with(text, "postgresql://") || istarts_with(text, "postgres://");
}

// Query parameters of a URI, as [begin, end) spans of key and value.
struct UriParam {
  std::string_view key;
  std::size_t value_begin;
  std::size_t value_end;
};

std::vector<UriParam> uri_params(std::string_view uri) {
  std::vector<UriParam> params;
  std::size_t pos = uri.find('?');
  if (pos == std::string_view::npos) return params;
  ++pos;
  while (pos <= uri.size()) {
    std::size_t end = uri.find('&', pos);
    if (end == std::string_view::npos) end = uri.size();
    const std::string_view param = uri.substr(pos, end - pos);
    const std::size_t equals = param.find('=');
    if (equals == std::string_view::npos) {
      params.push_back({param, end, end});
    } else {
      params.push_back({param.substr(0, equals), pos + equals + 1, end});
    }
    pos = end + 1;
  }
  return params;
}

// --- the parser --------------------------------------------------------------

constexpr std::string_view kRedacted = "<redacted>";

// Where an error about a key should point: the key itself when toml++ knows
// its position, else the value.
struct Field {
  std::string path;
  const toml::node& node;
  toml::source_region at;
};

using FieldHandler = std::function<void(const Field&)>;

struct KeyHandler {
  std::string_view key;
  FieldHandler handle;
};

class Parser {
 public:
  explicit Parser(std::string source_name) : source_name_(std::move(source_name)) {}

  LoadResult parse(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, source_name_);
    } catch (const toml::parse_error& failure) {
      error(failure.source(), "", "TOML syntax error: " + std::string(failure.description()));
      return finish();
    } catch (const std::exception& failure) {
      errors_.push_back({source_name_, 0, 0, "", std::string("cannot parse: ") + failure.what()});
      return finish();
    }
    config_.source_path = source_name_;
    parse_root(root);
    apply_global_defaults();
    return finish();
  }

 private:
  LoadResult finish() {
    LoadResult result;
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    result.errors = std::move(errors_);
    result.warnings = std::move(warnings_);
    if (result.errors.empty()) result.config = std::move(config_);
    return result;
  }

  // --- reporting ---

  void error(const toml::source_region& at, std::string key, std::string message) {
    errors_.push_back({source_name_, static_cast<std::int64_t>(at.begin.line),
                       static_cast<std::int64_t>(at.begin.column), std::move(key),
                       std::move(message)});
  }
  void error(const Field& field, std::string message) {
    error(field.at, field.path, std::move(message));
  }
  void warn(const Field& field, std::string message) {
    warnings_.push_back(ConfigError{source_name_, static_cast<std::int64_t>(field.at.begin.line),
                                    static_cast<std::int64_t>(field.at.begin.column), field.path,
                                    std::move(message)}
                            .to_string());
  }
  void missing(const Field& table, std::string_view key) {
    error(table.at, join_path(table.path, key), "missing required key");
  }

  // --- walking tables ---

  static Field child(const std::string& prefix, const toml::key& key, const toml::node& node) {
    const bool key_has_position = key.source().begin.line != 0;
    return Field{join_path(prefix, key.str()), node,
                 key_has_position ? key.source() : node.source()};
  }

  static Field element(const Field& array_field, std::size_t index, const toml::node& node) {
    return Field{index_path(array_field.path, index), node, node.source()};
  }

  // Runs the handler registered for each key; any other key is an error.
  void dispatch(const Field& table_field, std::initializer_list<KeyHandler> handlers) {
    const toml::table* table = as_table(table_field);
    if (table == nullptr) return;
    for (auto&& [key, node] : *table) {
      const Field field = child(table_field.path, key, node);
      const auto handler = std::find_if(handlers.begin(), handlers.end(),
                                        [&](const KeyHandler& h) { return h.key == key.str(); });
      if (handler == handlers.end()) {
        std::vector<std::string_view> known;
        for (const auto& h : handlers) known.push_back(h.key);
        error(field, "unknown key" + did_you_mean(key.str(), known));
      } else {
        handler->handle(field);
      }
    }
  }

  // --- typed readers: each reports its own error and returns empty ---

  const toml::table* as_table(const Field& field) {
    if (const auto* table = field.node.as_table()) return table;
    error(field, "expected a table, got " + std::string(type_name(field.node)));
    return nullptr;
  }

  const std::string* as_string(const Field& field) {
    if (const auto* value = field.node.as_string()) return &value->get();
    error(field, "expected a string, got " + std::string(type_name(field.node)));
    return nullptr;
  }

  void read_string(const Field& field, std::string& out, bool allow_empty = false) {
    const std::string* value = as_string(field);
    if (value == nullptr) return;
    if (!allow_empty && value->empty()) {
      error(field, "must not be empty");
      return;
    }
    out = *value;
  }

  void read_string(const Field& field, std::optional<std::string>& out) {
    if (const std::string* text = as_string(field)) {
      if (text->empty()) {
        error(field, "must not be empty");
      } else {
        out = *text;
      }
    }
  }

  std::optional<bool> as_bool(const Field& field) {
    if (const auto* value = field.node.as_boolean()) return value->get();
    error(field, "expected a boolean (true or false), got " + std::string(type_name(field.node)));
    return std::nullopt;
  }

  void read_bool(const Field& field, bool& out) {
    if (auto value = as_bool(field)) out = *value;
  }

  std::optional<std::int64_t> as_integer(const Field& field, std::int64_t min, std::int64_t max) {
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

  std::optional<Duration> as_duration(const Field& field, bool allow_zero) {
    const auto* text = field.node.as_string();
    if (text == nullptr) {
      error(field, "expected a duration string such as \"30s\", got " +
                       std::string(type_name(field.node)));
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

  void read_duration(const Field& field, Duration& out, bool allow_zero = false) {
    if (auto value = as_duration(field, allow_zero)) out = *value;
  }

  void read_duration(const Field& field, std::optional<Duration>& out, bool allow_zero = false) {
    if (auto value = as_duration(field, allow_zero)) out = *value;
  }

  std::optional<std::uint64_t> as_size(const Field& field, std::uint64_t min) {
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

  std::optional<std::vector<std::string>> as_strings(const Field& field) {
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

  void read_strings(const Field& field, std::vector<std::string>& out) {
    if (auto values = as_strings(field)) out = std::move(*values);
  }

  void read_choice(const Field& field, std::string& out,
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

  // Calls parse_item for each table of an array of tables ([[name]]).
  void each_table(const Field& field, const std::function<void(const Field&)>& parse_item) {
    const auto* array = field.node.as_array();
    // toml++ does not count an empty array as an array of tables.
    if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
      error(field, "expected an array of tables ([[" +
                       field.path.substr(field.path.rfind('.') + 1) + "]]), got " +
                       std::string(type_name(field.node)));
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) parse_item(element(field, i, *array->get(i)));
  }

  static bool is_http_url(std::string_view url) {
    return istarts_with(url, "http://") || istarts_with(url, "https://");
  }

  void read_http_url(const Field& field, std::string& out) {
    const std::string* value = as_string(field);
    if (value == nullptr) return;
    if (!is_http_url(*value)) {
      error(field, "must be an http:// or https:// URL, got " + quoted(*value));
      return;
    }
    out = *value;
  }

  // --- sections ---

  void parse_root(const toml::table& root) {
    const Field root_field{"", root, root.source()};
    dispatch(
        root_field,
        {
            {"state_directory", [&](const Field& f) { read_string(f, config_.state_directory); }},
            {"server", [&](const Field& f) { parse_server(f); }},
            {"log", [&](const Field& f) { parse_log(f); }},
            {"probes", [&](const Field& f) { parse_probe_map(f, config_.probes); }},
            {"alerting", [&](const Field& f) { parse_alerting(f); }},
            {"target",
             [&](const Field& f) {
               each_table(f, [&](const Field& item) { parse_target(item); });
             }},
        });
    if (config_.targets.empty() && errors_.empty()) {
      warnings_.push_back(source_name_ +
                          ":0:0: no [[target]] configured; nothing will be monitored");
    }
  }

  void parse_server(const Field& field) {
    ServerConfig& server = config_.server;
    dispatch(field,
             {
                 {"listen", [&](const Field& f) { parse_listen(f); }},
                 {"max_connections",
                  [&](const Field& f) {
                    if (auto n = as_integer(f, 1, 1'000'000)) {
                      server.max_connections = static_cast<std::size_t>(*n);
                    }
                  }},
                 {"max_request_size",
                  [&](const Field& f) {
                    if (auto bytes = as_size(f, 1)) {
                      server.max_request_bytes = static_cast<std::size_t>(*bytes);
                    }
                  }},
                 {"read_timeout", [&](const Field& f) { read_duration(f, server.read_timeout); }},
                 {"idle_timeout", [&](const Field& f) { read_duration(f, server.idle_timeout); }},
                 {"auth_exempt_health",
                  [&](const Field& f) { read_bool(f, server.auth_exempt_health); }},
                 {"tls", [&](const Field& f) { parse_tls(f); }},
                 {"basic_auth", [&](const Field& f) { parse_basic_auth(f); }},
             });
  }

  void parse_listen(const Field& field) {
    const auto* array = field.node.as_array();
    if (array == nullptr) {
      error(field, "expected an array of \"host:port\" strings, got " +
                       std::string(type_name(field.node)));
      return;
    }
    std::vector<std::string> addresses;
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const Field item = element(field, i, *array->get(i));
      const std::string* address = as_string(item);
      if (address == nullptr || !valid_listen_address(item, *address)) {
        ok = false;
        continue;
      }
      addresses.push_back(*address);
    }
    if (ok && addresses.empty()) {
      error(field, "must list at least one address");
      return;
    }
    if (ok) config_.server.listen = std::move(addresses);
  }

  bool valid_listen_address(const Field& field, std::string_view address) {
    std::string_view host;
    std::string_view port;
    if (!address.empty() && address.front() == '[') {
      const std::size_t close = address.find("]:");
      if (close == std::string_view::npos) {
        error(field, "invalid address " + quoted(address) + ": expected \"[IPv6]:port\"");
        return false;
      }
      host = address.substr(1, close - 1);
      port = address.substr(close + 2);
    } else {
      const std::size_t colon = address.rfind(':');
      if (colon == std::string_view::npos) {
        error(field, "invalid address " + quoted(address) + ": expected \"host:port\"");
        return false;
      }
      host = address.substr(0, colon);
      port = address.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) {
        error(field, "invalid address " + quoted(address) +
                         ": write IPv6 addresses in brackets, e.g. \"[::1]:9816\"");
        return false;
      }
    }
    if (host.empty()) {
      error(field, "invalid address " + quoted(address) + ": the host is missing");
      return false;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
      error(field, "invalid address " + quoted(address) + ": the port must be 0..65535");
      return false;
    }
    return true;
  }

  void parse_tls(const Field& field) {
    TlsConfig tls;
    dispatch(field,
             {
                 {"cert_file", [&](const Field& f) { read_string(f, tls.cert_file); }},
                 {"key_file", [&](const Field& f) { read_string(f, tls.key_file); }},
                 {"client_ca_file", [&](const Field& f) { read_string(f, tls.client_ca_file); }},
                 {"client_auth",
                  [&](const Field& f) {
                    read_choice(f, tls.client_auth, {"none", "require_and_verify"});
                  }},
                 {"min_version",
                  [&](const Field& f) {
                    read_choice(f, tls.min_version, {"TLS1.2", "TLS1.3"});
                  }},
             });
    if (!field.node.is_table()) return;
    if (tls.cert_file.empty()) missing(field, "cert_file");
    if (tls.key_file.empty()) missing(field, "key_file");
    if (tls.client_auth == "require_and_verify" && tls.client_ca_file.empty()) {
      error(field, "client_auth = \"require_and_verify\" needs client_ca_file");
    }
    config_.server.tls = std::move(tls);
  }

  void parse_basic_auth(const Field& field) {
    dispatch(field, {{"users", [&](const Field& users_field) {
                        const toml::table* users = as_table(users_field);
                        if (users == nullptr) return;
                        for (auto&& [user, hash_node] : *users) {
                          const Field f = child(users_field.path, user, hash_node);
                          parse_basic_auth_user(f, user.str());
                        }
                      }}});
  }

  void parse_basic_auth_user(const Field& field, std::string_view user) {
    if (user.empty() || user.find(':') != std::string_view::npos) {
      error(field, "a basic-auth user name must be non-empty and must not contain ':'");
      return;
    }
    const std::string* hash = as_string(field);
    if (hash == nullptr) return;
    // Never echo the value: it might be a plaintext password by mistake.
    const bool looks_like_bcrypt =
        hash->size() == 60 && (*hash)[0] == '$' && (*hash)[1] == '2' && (*hash)[3] == '$' &&
        ((*hash)[2] == 'a' || (*hash)[2] == 'b' || (*hash)[2] == 'y') && (*hash)[6] == '$';
    if (!looks_like_bcrypt) {
      error(field,
            "expected a bcrypt hash (\"$2y$10$...\", 60 characters), not a plaintext password");
      return;
    }
    config_.server.basic_auth_users[std::string(user)] = *hash;
  }

  void parse_log(const Field& field) {
    LogConfig& log = config_.log;
    dispatch(field, {
                        {"level",
                         [&](const Field& f) {
                           read_choice(
                               f, log.level,
                               {"trace", "debug", "info", "warn", "error", "critical", "off"});
                         }},
                        {"format",
                         [&](const Field& f) {
                           read_choice(f, log.format, {"text", "json"});
                         }},
                    });
  }

  void parse_probe_map(const Field& field, std::map<std::string, ProbeSettings>& probes) {
    const toml::table* table = as_table(field);
    if (table == nullptr) return;
    for (auto&& [name, node] : *table) {
      const Field f = child(field.path, name, node);
      if (!is_probe_name(name.str())) {
        error(f, "unknown probe " + quoted(name.str()) + did_you_mean(name.str(), kProbeNames));
        continue;
      }
      parse_probe_settings(f, probes[std::string(name.str())]);
    }
  }

  void parse_probe_settings(const Field& field, ProbeSettings& settings) {
    dispatch(field, {
                        {"enabled", [&](const Field& f) { settings.enabled = as_bool(f); }},
                        {"interval", [&](const Field& f) { read_duration(f, settings.interval); }},
                        {"timeout", [&](const Field& f) { read_duration(f, settings.timeout); }},
                        {"top_n",
                         [&](const Field& f) {
                           if (auto n = as_integer(f, 1, 100'000)) {
                             settings.top_n = static_cast<std::size_t>(*n);
                           }
                         }},
                        {"include_databases",
                         [&](const Field& f) { read_strings(f, settings.include_databases); }},
                        {"exclude_databases",
                         [&](const Field& f) { read_strings(f, settings.exclude_databases); }},
                    });
  }

  void parse_alerting(const Field& field) {
    AlertingConfig& alerting = config_.alerting;
    dispatch(
        field,
        {
            {"alertmanagers",
             [&](const Field& f) {
               const auto urls = as_strings(f);
               if (!urls) return;
               const auto* array = f.node.as_array();
               bool ok = true;
               for (std::size_t i = 0; i < urls->size(); ++i) {
                 if (!is_http_url((*urls)[i])) {
                   error(element(f, i, *array->get(i)),
                         "must be an http:// or https:// URL, got " + quoted((*urls)[i]));
                   ok = false;
                 }
               }
               if (ok) alerting.alertmanagers = *urls;
             }},
            {"evaluation_interval",
             [&](const Field& f) { read_duration(f, alerting.evaluation_interval); }},
            {"resend_interval",
             [&](const Field& f) { read_duration(f, alerting.resend_interval); }},
            {"send_timeout", [&](const Field& f) { read_duration(f, alerting.send_timeout); }},
            {"external_url", [&](const Field& f) { read_http_url(f, alerting.external_url); }},
            {"runbook_base_url",
             [&](const Field& f) { read_http_url(f, alerting.runbook_base_url); }},
            {"basic_auth_user", [&](const Field& f) { read_string(f, alerting.basic_auth_user); }},
            {"basic_auth_password_file",
             [&](const Field& f) { read_string(f, alerting.basic_auth_password_file); }},
            {"bearer_token_file",
             [&](const Field& f) { read_string(f, alerting.bearer_token_file); }},
            {"rules", [&](const Field& f) { parse_rule_map(f, alerting.rules); }},
        });
    if (!field.node.is_table()) return;
    if (alerting.basic_auth_user.empty() != alerting.basic_auth_password_file.empty()) {
      error(field, "basic_auth_user and basic_auth_password_file must be set together");
    }
    if (!alerting.basic_auth_user.empty() && !alerting.bearer_token_file.empty()) {
      error(field, "set either basic_auth_user or bearer_token_file, not both");
    }
  }

  void parse_rule_map(const Field& field, std::map<std::string, RuleOverride>& rules) {
    const toml::table* table = as_table(field);
    if (table == nullptr) return;
    for (auto&& [name, node] : *table) {
      const Field f = child(field.path, name, node);
      if (!is_rule_name(name.str())) {
        error(f, "unknown rule " + quoted(name.str()) + did_you_mean(name.str(), kRuleNames));
        continue;
      }
      parse_rule(f, rules[std::string(name.str())]);
    }
  }

  void parse_rule(const Field& field, RuleOverride& rule) {
    const toml::table* table = as_table(field);
    if (table == nullptr) return;
    for (auto&& [key, node] : *table) {
      const Field f = child(field.path, key, node);
      if (key.str() == "enabled") {
        rule.enabled = as_bool(f);
      } else if (key.str() == "for") {
        read_duration(f, rule.for_duration, /*allow_zero=*/true);
      } else if (auto threshold = as_threshold(f)) {
        rule.thresholds[std::string(key.str())] = *threshold;
      }
    }
  }

  // Thresholds are kept in base units so rules compare like with like.
  std::optional<double> as_threshold(const Field& field) {
    if (const auto* integer = field.node.as_integer()) return static_cast<double>(integer->get());
    if (const auto* number = field.node.as_floating_point()) {
      if (std::isfinite(number->get())) return number->get();
      error(field, "threshold must be a finite number");
      return std::nullopt;
    }
    if (const auto* text = field.node.as_string()) {
      if (auto ratio = parse_percent(text->get())) return *ratio;
      if (auto duration = parse_duration(text->get())) {
        return static_cast<double>(duration->count()) / 1000.0;
      }
      if (auto bytes = parse_size(text->get())) return static_cast<double>(*bytes);
      error(field, "invalid threshold " + quoted(text->get()) +
                       ": use a number, a duration (\"30s\"), a size (\"10GB\") or a percent "
                       "(\"80%\")");
      return std::nullopt;
    }
    error(field, "expected a threshold (number, duration, size or percent string), got " +
                     std::string(type_name(field.node)));
    return std::nullopt;
  }

  // --- targets ---

  void parse_target(const Field& field) {
    TargetConfig target;
    std::optional<toml::source_region> name_at;
    std::optional<Field> password_field;

    const auto keyword = [&](std::string_view name) {
      return KeyHandler{name, [&, name](const Field& f) {
                          std::string value;
                          read_string(f, value);
                          if (!value.empty()) target.conn[std::string(name)] = value;
                        }};
    };
    const auto keyword_choice = [&](std::string_view name, std::vector<std::string_view> allowed) {
      return KeyHandler{name, [&, name, allowed](const Field& f) {
                          std::string value;
                          read_choice(f, value, allowed);
                          if (!value.empty()) target.conn[std::string(name)] = value;
                        }};
    };

    dispatch(field,
             {
                 {"name",
                  [&](const Field& f) {
                    read_string(f, target.name);
                    name_at = f.at;
                    if (!target.name.empty() && !valid_target_name(target.name)) {
                      error(f, "invalid target name " + quoted(target.name) +
                                   ": use letters, digits and _ . : -");
                      target.name.clear();
                    }
                  }},
                 {"conninfo", [&](const Field& f) { parse_conninfo(f, target); }},
                 keyword("host"),
                 keyword("hostaddr"),
                 {"port", [&](const Field& f) { parse_port(f, target); }},
                 keyword("dbname"),
                 keyword("user"),
                 keyword_choice("sslmode", {"disable", "allow", "prefer", "require", "verify-ca",
                                            "verify-full"}),
                 keyword("sslcert"),
                 keyword("sslkey"),
                 keyword("sslrootcert"),
                 keyword("sslcrl"),
                 {"connect_timeout", [&](const Field& f) { parse_connect_timeout(f, target); }},
                 keyword_choice("target_session_attrs", {"any", "read-write", "read-only",
                                                         "primary", "standby", "prefer-standby"}),
                 keyword("options"),
                 keyword("passfile"),
                 keyword("service"),
                 keyword_choice("gssencmode", {"disable", "prefer", "require"}),
                 {"application_name",
                  [&](const Field& f) {
                    error(f,
                          "application_name is set by pgvigil (it marks its own sessions) and "
                          "cannot be configured");
                  }},
                 {"password",
                  [&](const Field& f) {
                    if (const std::string* password = as_string(f)) {
                      target.conn["password"] = *password;
                      password_field.emplace(f);
                      warn(f, "plaintext password in the config file; prefer password_file");
                    }
                  }},
                 {"password_file", [&](const Field& f) { read_string(f, target.password_file); }},
                 {"labels", [&](const Field& f) { parse_labels(f, target.labels); }},
                 {"expected_databases",
                  [&](const Field& f) { read_strings(f, target.expected_databases); }},
                 {"expected_replicas",
                  [&](const Field& f) {
                    if (auto n = as_integer(f, 0, 1000))
                      target.expected_replicas = static_cast<int>(*n);
                  }},
                 {"rpo", [&](const Field& f) { read_duration(f, target.rpo); }},
                 {"data_directory", [&](const Field& f) { read_string(f, target.data_directory); }},
                 {"wal_directory", [&](const Field& f) { read_string(f, target.wal_directory); }},
                 {"extra_paths", [&](const Field& f) { read_strings(f, target.extra_paths); }},
                 {"patroni_url", [&](const Field& f) { read_http_url(f, target.patroni_url); }},
                 {"probes", [&](const Field& f) { parse_probe_map(f, target.probes); }},
                 {"backup",
                  [&](const Field& f) {
                    each_table(f, [&](const Field& item) { parse_backup(item, target); });
                  }},
                 {"log", [&](const Field& f) { parse_log_scan(f, target); }},
                 {"check", [&](const Field& f) { parse_checks(f, target); }},
                 {"rules", [&](const Field& f) { parse_rule_map(f, target.rules); }},
             });
    if (!field.node.is_table()) return;

    if (password_field && !target.password_file.empty()) {
      error(*password_field, "set either password or password_file, not both");
    }
    if (!name_at) {
      missing(field, "name");
    } else if (!target.name.empty()) {
      const auto [first, inserted] = target_name_lines_.emplace(target.name, name_at->begin.line);
      if (!inserted) {
        error(*name_at, field.path + ".name",
              "duplicate target name " + quoted(target.name) + " (first defined at line " +
                  std::to_string(first->second) + ")");
      }
    }
    config_.targets.push_back(std::move(target));
  }

  static bool valid_target_name(std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) {
      return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '.' || c == ':' || c == '-';
    });
  }

  void parse_conninfo(const Field& field, TargetConfig& target) {
    const std::string* conninfo = as_string(field);
    if (conninfo == nullptr) return;
    // Messages below never quote the conninfo: it may hold a password.
    bool has_password = false;
    if (is_conninfo_uri(*conninfo)) {
      for (const auto& param : uri_params(*conninfo)) {
        if (param.key == "application_name") {
          error(field, "application_name is set by pgvigil and cannot be part of conninfo");
          return;
        }
      }
      has_password = redact_conninfo(*conninfo) != *conninfo;
    } else {
      const ConninfoScan scan = scan_conninfo(*conninfo);
      if (!scan.ok) {
        error(field, "cannot parse conninfo near character " + std::to_string(scan.error_at + 1) +
                         ": expected keyword=value pairs or a postgresql:// URI");
        return;
      }
      for (const auto& pair : scan.pairs) {
        if (pair.keyword == "application_name") {
          error(field, "application_name is set by pgvigil and cannot be part of conninfo");
          return;
        }
        if (pair.keyword == "password") has_password = true;
      }
    }
    if (has_password) {
      warn(field, "conninfo contains a plaintext password; prefer password_file");
    }
    target.conninfo = *conninfo;
  }

  void parse_port(const Field& field, TargetConfig& target) {
    if (field.node.is_integer()) {
      if (auto port = as_integer(field, 1, 65535)) target.conn["port"] = std::to_string(*port);
      return;
    }
    const auto* text = field.node.as_string();
    if (text == nullptr) {
      error(field, "expected a port number, got " + std::string(type_name(field.node)));
      return;
    }
    // libpq takes a comma-separated list, one port per host.
    std::string_view rest = text->get();
    bool ok = !rest.empty();
    while (ok) {
      const std::size_t comma = rest.find(',');
      const std::string_view port = rest.substr(0, comma);
      unsigned value = 0;
      const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      ok = !port.empty() && ec == std::errc{} && end == port.data() + port.size() && value >= 1 &&
           value <= 65535;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (!ok) {
      error(field, "invalid port " + quoted(text->get()) + ": must be 1..65535");
      return;
    }
    target.conn["port"] = text->get();
  }

  void parse_connect_timeout(const Field& field, TargetConfig& target) {
    if (field.node.is_integer()) {
      if (auto seconds = as_integer(field, 0, 86'400)) {
        target.conn["connect_timeout"] = std::to_string(*seconds);
      }
      return;
    }
    const auto* text = field.node.as_string();
    unsigned seconds = 0;
    if (text != nullptr) {
      const std::string& value = text->get();
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (!value.empty() && ec == std::errc{} && end == value.data() + value.size() &&
          seconds <= 86'400) {
        target.conn["connect_timeout"] = value;
        return;
      }
    }
    error(field, "expected a number of seconds (libpq connect_timeout), e.g. 5");
  }

  void parse_labels(const Field& field, std::map<std::string, std::string>& labels) {
    const toml::table* table = as_table(field);
    if (table == nullptr) return;
    for (auto&& [name, node] : *table) {
      const Field f = child(field.path, name, node);
      const std::string_view label = name.str();
      const bool valid_syntax = !label.empty() && (is_ascii_alpha(label[0]) || label[0] == '_') &&
                                std::all_of(label.begin(), label.end(), [](char c) {
                                  return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_';
                                });
      if (!valid_syntax) {
        error(f, "invalid label name " + quoted(label) + ": use [a-zA-Z_][a-zA-Z0-9_]*");
        continue;
      }
      if (label.substr(0, 2) == "__") {
        error(f, "label names starting with \"__\" are reserved by Prometheus");
        continue;
      }
      if (label == "target") {
        error(f, "the \"target\" label is set by pgvigil from the target name");
        continue;
      }
      std::string value;
      read_string(f, value, /*allow_empty=*/true);
      if (f.node.is_string()) labels[std::string(label)] = value;
    }
  }

  void parse_backup(const Field& field, TargetConfig& target) {
    BackupConfig backup;
    dispatch(field, {
                        {"glob", [&](const Field& f) { read_string(f, backup.glob); }},
                        {"max_age", [&](const Field& f) { read_duration(f, backup.max_age); }},
                        {"min_size",
                         [&](const Field& f) {
                           if (auto bytes = as_size(f, 0)) backup.min_size_bytes = *bytes;
                         }},
                    });
    if (!field.node.is_table()) return;
    if (backup.glob.empty()) missing(field, "glob");
    target.backups.push_back(std::move(backup));
  }

  void parse_log_scan(const Field& field, TargetConfig& target) {
    LogScanConfig log;
    dispatch(field, {
                        {"path", [&](const Field& f) { read_string(f, log.path); }},
                        {"max_bytes_per_round",
                         [&](const Field& f) {
                           if (auto bytes = as_size(f, 1)) log.max_bytes_per_round = *bytes;
                         }},
                    });
    if (!field.node.is_table()) return;
    if (log.path.empty()) missing(field, "path");
    target.log = std::move(log);
  }

  void parse_checks(const Field& field, TargetConfig& target) {
    std::map<std::string, std::uint32_t> name_lines;
    each_table(field, [&](const Field& item) {
      CheckConfig check;
      std::optional<toml::source_region> name_at;
      bool has_expect = false;
      dispatch(item,
               {
                   {"name",
                    [&](const Field& f) {
                      read_string(f, check.name);
                      name_at = f.at;
                    }},
                   {"sql", [&](const Field& f) { read_string(f, check.sql); }},
                   {"database", [&](const Field& f) { read_string(f, check.database); }},
                   {"interval", [&](const Field& f) { read_duration(f, check.interval); }},
                   {"timeout", [&](const Field& f) { read_duration(f, check.timeout); }},
                   {"expect",
                    [&](const Field& f) {
                      has_expect = true;
                      const std::string* text = as_string(f);
                      if (text == nullptr) return;
                      const auto expectation = parse_expect(*text);
                      if (!expectation) {
                        error(f, "invalid expect " + quoted(*text) +
                                     ": use an operator (>, >=, <, <=, ==, !=) and a number, "
                                     "e.g. \"> 0\"");
                        return;
                      }
                      check.comparison = expectation->first;
                      check.threshold = expectation->second;
                      check.expect = std::string(trim(*text));
                    }},
                   {"for", [&](const Field& f) { read_duration(f, check.for_duration, true); }},
                   {"severity",
                    [&](const Field& f) {
                      read_choice(f, check.severity, {"info", "warning", "critical"});
                    }},
               });
      if (!item.node.is_table()) return;
      if (!name_at) missing(item, "name");
      if (check.sql.empty() && !item.node.as_table()->contains("sql")) missing(item, "sql");
      if (!has_expect) missing(item, "expect");
      if (name_at && !check.name.empty()) {
        const auto [first, inserted] = name_lines.emplace(check.name, name_at->begin.line);
        if (!inserted) {
          error(*name_at, item.path + ".name",
                "duplicate check name " + quoted(check.name) +
                    " in this target (first defined at line " + std::to_string(first->second) +
                    ")");
        }
      }
      target.checks.push_back(std::move(check));
    });
  }

  // [probes.NAME] and [alerting.rules.NAME] are defaults for every target;
  // folding them in here means consumers only ever read the target.
  void apply_global_defaults() {
    for (TargetConfig& target : config_.targets) {
      for (const auto& [name, global] : config_.probes) {
        ProbeSettings& own = target.probes[name];
        if (!own.enabled) own.enabled = global.enabled;
        if (!own.interval) own.interval = global.interval;
        if (!own.timeout) own.timeout = global.timeout;
        if (!own.top_n) own.top_n = global.top_n;
        if (own.include_databases.empty()) own.include_databases = global.include_databases;
        if (own.exclude_databases.empty()) own.exclude_databases = global.exclude_databases;
      }
      for (const auto& [name, global] : config_.alerting.rules) {
        RuleOverride& own = target.rules[name];
        if (!own.enabled) own.enabled = global.enabled;
        if (!own.for_duration) own.for_duration = global.for_duration;
        for (const auto& [threshold, value] : global.thresholds) {
          own.thresholds.emplace(threshold, value);  // keeps the target's own value
        }
      }
    }
  }

  std::string source_name_;
  Config config_;
  std::vector<ConfigError> errors_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::uint32_t> target_name_lines_;
};

bool config_holds_secret(const Config& config) {
  if (!config.server.basic_auth_users.empty()) return true;
  return std::any_of(config.targets.begin(), config.targets.end(), [](const TargetConfig& target) {
    return target.conn.count("password") != 0 ||
           redact_conninfo(target.conninfo) != target.conninfo;
  });
}

}  // namespace

LoadResult parse_config_text(std::string_view text, const std::string& source_name) {
  return Parser(source_name).parse(text);
}

LoadResult load_config_file(const std::string& path) {
  const auto unreadable = [&](int error_number) {
    LoadResult result;
    result.errors.push_back(
        {path, 0, 0, "", "cannot read config file: " + std::string(std::strerror(error_number))});
    return result;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable(errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error_number = errno;
    ::close(fd);
    return unreadable(error_number);
  }
  // A config is a few kilobytes; refuse anything absurd rather than read it.
  constexpr off_t kMaxConfigBytes = 4 * 1024 * 1024;
  if (S_ISREG(info.st_mode) && info.st_size > kMaxConfigBytes) {
    ::close(fd);
    LoadResult result;
    result.errors.push_back({path, 0, 0, "", "config file is larger than 4MiB"});
    return result;
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      return unreadable(error_number);
    }
    if (count == 0) break;
    text.append(buffer, static_cast<std::size_t>(count));
    if (text.size() > static_cast<std::size_t>(kMaxConfigBytes)) {
      ::close(fd);
      LoadResult result;
      result.errors.push_back({path, 0, 0, "", "config file is larger than 4MiB"});
      return result;
    }
  }
  ::close(fd);

  LoadResult result = parse_config_text(text, path);
  if (result.config && config_holds_secret(*result.config) &&
      (info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    result.warnings.push_back(path + ":0:0: the file holds secrets but is readable by " +
                              ((info.st_mode & S_IROTH) != 0 ? "everyone" : "its group") +
                              "; run chmod 600 (or 640 with a dedicated group) on it");
  }
  return result;
}

std::string redact_conninfo(std::string_view conninfo) {
  std::string out(conninfo);
  if (is_conninfo_uri(conninfo)) {
    // Work right to left so earlier offsets stay valid.
    const auto params = uri_params(conninfo);
    for (auto it = params.rbegin(); it != params.rend(); ++it) {
      if (iequals(it->key, "password") && it->value_end > it->value_begin) {
        out.replace(it->value_begin, it->value_end - it->value_begin, kRedacted);
      }
    }
    const std::size_t authority = conninfo.find("://") + 3;
    std::size_t query = conninfo.find('?', authority);
    if (query == std::string_view::npos) query = conninfo.size();
    // The last '@' before the query ends the user info, so an unescaped '@'
    // or '/' inside a password is still covered.
    const std::size_t at = conninfo.substr(0, query).rfind('@');
    if (at != std::string_view::npos && at >= authority) {
      const std::size_t colon = conninfo.substr(authority, at - authority).find(':');
      if (colon != std::string_view::npos) {
        const std::size_t begin = authority + colon + 1;
        out.replace(begin, at - begin, kRedacted);
      }
    }
    return out;
  }
  const ConninfoScan scan = scan_conninfo(conninfo);
  if (!scan.ok) {
    // Unparsable tail: it may hold a password, so nothing after the last good
    // pair is shown.
    out.resize(scan.error_at);
    out += kRedacted;
  }
  for (auto it = scan.pairs.rbegin(); it != scan.pairs.rend(); ++it) {
    if (iequals(it->keyword, "password")) {
      out.replace(it->value_begin, it->value_end - it->value_begin, kRedacted);
    }
  }
  return out;
}

std::optional<std::pair<Comparison, double>> parse_expect(std::string_view text) {
  text = trim(text);
  struct Operator {
    std::string_view symbol;
    Comparison comparison;
  };
  // Two-character operators first so ">=" is not read as ">".
  constexpr std::array<Operator, 6> kOperators{{
      {">=", Comparison::greater_equal},
      {"<=", Comparison::less_equal},
      {"==", Comparison::equal},
      {"!=", Comparison::not_equal},
      {">", Comparison::greater},
      {"<", Comparison::less},
  }};
  for (const auto& op : kOperators) {
    if (text.substr(0, op.symbol.size()) != op.symbol) continue;
    const std::string_view number = trim(text.substr(op.symbol.size()));
    if (number.empty()) return std::nullopt;
    // from_chars rejects a leading '+', which people do write.
    const std::string_view digits = number.front() == '+' ? number.substr(1) : number;
    if (number.front() == '+' && !digits.empty() && digits.front() == '-') return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        !std::isfinite(value)) {
      return std::nullopt;
    }
    return std::pair(op.comparison, value);
  }
  return std::nullopt;
}

bool compare(Comparison comparison, double value, double threshold) {
  switch (comparison) {
    case Comparison::greater:
      return value > threshold;
    case Comparison::greater_equal:
      return value >= threshold;
    case Comparison::less:
      return value < threshold;
    case Comparison::less_equal:
      return value <= threshold;
    case Comparison::equal:
      return value == threshold;
    case Comparison::not_equal:
      return value != threshold;
  }
  return false;
}

}  // namespace pgvigil::config
