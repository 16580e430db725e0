#pragma once
// Reading libpq connection strings without libpq: keyword/value conninfo
// ("host=db password='x y'") and postgresql:// URIs. Used to check a target's
// conninfo and to redact it; libpq itself still parses it for real.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil::config {

struct ConninfoPair {
  std::string keyword;
  std::string value;            // with quotes and escapes resolved
  std::size_t value_begin = 0;  // raw span in the text, quotes included
  std::size_t value_end = 0;
};

struct ConninfoScan {
  std::vector<ConninfoPair> pairs;
  bool ok = true;
  std::size_t error_at = 0;  // start of the pair that could not be read
};

// Keyword/value syntax as libpq reads it: pairs separated by whitespace,
// values bare or in single quotes, backslash escapes in both.
ConninfoScan scan_conninfo(std::string_view text);

// True for "postgresql://..." and "postgres://..." (any case, leading
// whitespace allowed).
bool is_conninfo_uri(std::string_view text);

// One query parameter of a URI, as spans of the URI's text.
struct UriParam {
  std::string_view key;
  std::size_t value_begin = 0;  // [value_begin, value_end) in the URI; empty without '='
  std::size_t value_end = 0;
};

// The parameters after the first '?', split at '&'.
std::vector<UriParam> uri_params(std::string_view uri);

}  // namespace pgvigil::config
