#include "config/conninfo.hpp"

#include "config/text.hpp"

namespace pgvigil::config {

ConninfoScan scan_conninfo(std::string_view text) {
  ConninfoScan scan;
  std::size_t pos = 0;
  const auto skip_space = [&] {
    while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
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
    while (pos < text.size() && !is_ascii_space(text[pos]) && text[pos] != '=') ++pos;
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
      while (pos < text.size() && !is_ascii_space(text[pos])) {
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

}  // namespace pgvigil::config
