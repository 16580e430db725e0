#include "config/toml_text_check.hpp"

namespace pgvigil::config {

namespace {

// Length of the UTF-8 sequence at text[at], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0u) != 0x80u) return 0;
    code = (code << 6) | (byte(at + i) & 0x3Fu);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
  if (overlong || surrogate || code > 0x10FFFF) return 0;
  return length;
}

}  // namespace

std::optional<TomlTextProblem> check_toml_text(std::string_view text) {
  enum class Where { code, comment, basic, literal, multiline_basic, multiline_literal };
  Where where = Where::code;
  std::int64_t line = 1;
  std::size_t line_start = 0;
  std::size_t pos = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  const auto problem = [&](std::string message) {
    // Columns count bytes, as toml++'s own messages do for this file.
    return TomlTextProblem{line, static_cast<std::int64_t>(pos - line_start) + 1,
                           std::move(message)};
  };
  const auto at = [&](std::string_view token) { return text.substr(pos).starts_with(token); };
  while (pos < text.size()) {
    const char c = text[pos];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t length = utf8_length(text, pos);
      if (length == 0) return problem("the file is not valid UTF-8");
      if (where == Where::code) return problem("a non-ASCII character outside a string or comment");
      pos += length;
      continue;
    }
    if (c == '\n') {
      ++line;
      line_start = pos + 1;
      // A single-line string or a comment ends here (an unclosed string is
      // the parser's error to report).
      if (where != Where::multiline_basic && where != Where::multiline_literal) where = Where::code;
      ++pos;
      continue;
    }
    switch (where) {
      case Where::code:
        if (c == '#') {
          where = Where::comment;
        } else if (at("\"\"\"")) {
          where = Where::multiline_basic;
          pos += 2;
        } else if (at("'''")) {
          where = Where::multiline_literal;
          pos += 2;
        } else if (c == '"') {
          where = Where::basic;
        } else if (c == '\'') {
          where = Where::literal;
        }
        break;
      case Where::comment:
        break;
      case Where::basic:
        if (c == '\\' && pos + 1 < text.size() && text[pos + 1] != '\n') {
          ++pos;
        } else if (c == '"') {
          where = Where::code;
        }
        break;
      case Where::literal:
        if (c == '\'') where = Where::code;
        break;
      case Where::multiline_basic:
        if (c == '\\' && pos + 1 < text.size() && text[pos + 1] != '\n') {
          ++pos;
        } else if (at("\"\"\"")) {
          pos += 2;
          // Up to two more quotes still belong to the string: """a"""""
          for (int extra = 0; extra < 2 && pos + 1 < text.size() && text[pos + 1] == '"'; ++extra)
            ++pos;
          where = Where::code;
        }
        break;
      case Where::multiline_literal:
        if (at("'''")) {
          pos += 2;
          for (int extra = 0; extra < 2 && pos + 1 < text.size() && text[pos + 1] == '\''; ++extra)
            ++pos;
          where = Where::code;
        }
        break;
    }
    ++pos;
  }
  return std::nullopt;
}

}  // namespace pgvigil::config
