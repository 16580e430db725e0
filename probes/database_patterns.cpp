#include "probes/database_patterns.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <vector>

namespace pgvigil {

namespace {

struct LikePattern {
  std::string text;    // the LIKE pattern, backslash as its escape character
  bool exact = false;  // matches exactly what the glob matches
};

// Where the bracket expression that opens at glob[open] ends (the index of its
// ']'), or npos when it does not close: fnmatch then reads '[' literally.
std::size_t bracket_end(std::string_view glob, std::size_t open) {
  std::size_t i = open + 1;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) ++i;
  if (i < glob.size() && glob[i] == ']') ++i;  // a leading ']' is a member
  for (; i < glob.size(); ++i)
    if (glob[i] == ']') return i;
  return std::string_view::npos;
}

void append_literal(std::string& out, char c) {
  if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
  out.push_back(c);
}

LikePattern to_like(std::string_view glob) {
  LikePattern like{{}, true};
  for (std::size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    if (c == '*') {
      like.text.push_back('%');
    } else if (c == '?') {
      like.text.push_back('_');
    } else if (c == '\\' && i + 1 < glob.size()) {
      append_literal(like.text, glob[++i]);
    } else if (c == '[') {
      const auto end = bracket_end(glob, i);
      if (end == std::string_view::npos) {
        append_literal(like.text, c);
      } else {
        like.text.push_back('_');  // one character of the set: widened
        like.exact = false;
        i = end;
      }
    } else {
      append_literal(like.text, c);
    }
  }
  return like;
}

// An escape-string literal (E'...'): the same text whatever
// standard_conforming_strings says.
std::string sql_literal(std::string_view text) {
  std::string out = "E'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string like_any(std::string_view column, const std::vector<std::string>& likes) {
  std::string out(column);
  out += " LIKE ANY (ARRAY[";
  for (std::size_t i = 0; i < likes.size(); ++i) {
    if (i) out += ", ";
    out += sql_literal(likes[i]);
  }
  out += "]::text[])";
  return out;
}

}  // namespace

bool database_selected(const DatabasePatterns& patterns, std::string_view name) {
  const std::string subject(name);
  const auto matches = [&](std::span<const std::string> globs) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& glob) {
      return fnmatch(glob.c_str(), subject.c_str(), 0) == 0;
    });
  };
  return (patterns.include.empty() || matches(patterns.include)) && !matches(patterns.exclude);
}

std::string datname_prefilter(const DatabasePatterns& patterns, std::string_view column) {
  std::vector<std::string> include;
  for (const auto& glob : patterns.include) include.push_back(to_like(glob).text);
  // An exclude pattern narrows only where LIKE says exactly what the glob
  // says; a widened one would drop databases the glob keeps.
  std::vector<std::string> exclude;
  for (const auto& glob : patterns.exclude)
    if (auto like = to_like(glob); like.exact) exclude.push_back(std::move(like.text));
  std::string out;
  if (!include.empty()) out = like_any(column, include);
  if (!exclude.empty()) {
    if (!out.empty()) out += " AND ";
    out += "NOT " + like_any(column, exclude);
  }
  return out.empty() ? std::string("TRUE") : out;
}

}  // namespace pgvigil
