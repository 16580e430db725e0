#include "config/text.hpp"

#include <algorithm>

namespace pgvigil::config {

std::string_view trim(std::string_view text, std::string_view chars) noexcept {
  const std::size_t first = text.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(chars);
  return text.substr(first, last - first + 1);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::size_t ifind(std::string_view haystack, std::string_view needle, std::size_t from) noexcept {
  if (from > haystack.size()) return std::string_view::npos;
  if (needle.empty()) return from;
  for (std::size_t i = from; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

bool icontains(std::string_view haystack, std::string_view needle) noexcept {
  return ifind(haystack, needle) != std::string_view::npos;
}

std::string_view clip_utf8(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // text[cut] is the first byte left out; while it continues a sequence, the
  // sequence's start is left out too.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string first_line(std::string_view text, std::size_t max_bytes) {
  std::string_view line = text.substr(0, text.find('\n'));
  line = line.substr(0, line.find_last_not_of(kAsciiSpace) + 1);  // npos + 1 == 0
  return std::string(clip_utf8(line, max_bytes));
}

}  // namespace pgvigil::config
