#pragma once
// Small string helpers every area uses: ASCII case and whitespace, and cutting
// text without splitting a UTF-8 character. config/ is the lowest library, so
// they live here once.
#include <cstddef>
#include <string>
#include <string_view>

namespace pgvigil::config {

// The C locale's isspace set, without depending on the locale.
inline constexpr std::string_view kAsciiSpace = " \t\n\r\f\v";

constexpr bool is_ascii_space(char c) noexcept {
  return kAsciiSpace.find(c) != std::string_view::npos;
}
constexpr bool is_ascii_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_ascii_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// text without the leading and trailing characters found in `chars`
// (ASCII whitespace by default; HTTP's optional whitespace is " \t").
std::string_view trim(std::string_view text, std::string_view chars = kAsciiSpace) noexcept;

// ASCII case-insensitive comparisons; bytes >= 0x80 compare exactly.
bool iequals(std::string_view a, std::string_view b) noexcept;
bool istarts_with(std::string_view text, std::string_view prefix) noexcept;
// Position of needle in haystack at or after `from`, ignoring ASCII case;
// npos when absent.
std::size_t ifind(std::string_view haystack, std::string_view needle,
                  std::size_t from = 0) noexcept;
bool icontains(std::string_view haystack, std::string_view needle) noexcept;

// The longest prefix of text that is at most max_bytes long and does not end
// inside a UTF-8 sequence (the cut steps back over continuation bytes).
std::string_view clip_utf8(std::string_view text, std::size_t max_bytes) noexcept;

// The first line of a (possibly multi-line) message, trailing whitespace
// removed, clipped to max_bytes with clip_utf8: for error texts from libpq and
// other libraries that end up in one log line or one label.
std::string first_line(std::string_view text, std::size_t max_bytes = 300);

}  // namespace pgvigil::config
