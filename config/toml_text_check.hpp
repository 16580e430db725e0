#pragma once
// A check of a TOML file's bytes before toml++ sees them. toml++ 3.3.0 (the
// Debian package) reaches __builtin_unreachable, undefined behaviour, on some
// non-ASCII characters where it expects whitespace (a file holding only
// U+FEF6 is enough). TOML allows non-ASCII only inside strings and comments,
// so such text is rejected here with its position, and the parser never
// meets it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgvigil::config {

struct TomlTextProblem {
  std::int64_t line = 1;  // 1-based
  std::int64_t column = 1;
  std::string message;
};

// nullopt when `text` is valid UTF-8 with non-ASCII characters only inside
// strings and comments (a leading byte order mark is allowed).
std::optional<TomlTextProblem> check_toml_text(std::string_view text);

}  // namespace pgvigil::config
