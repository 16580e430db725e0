#include "config/units.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "config/text.hpp"

namespace pgvigil::config {
namespace {

// Reads a run of decimal digits at pos into value; false on overflow or when
// there are no digits.
bool read_unsigned(std::string_view text, std::size_t& pos, std::uint64_t& value) {
  const std::size_t start = pos;
  value = 0;
  while (pos < text.size() && is_ascii_digit(text[pos])) {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
    ++pos;
  }
  return pos > start;
}

struct DurationUnit {
  std::string_view suffix;
  std::int64_t milliseconds;
};

// Largest first: parse_duration requires this order in the text and
// format_duration emits it.
constexpr std::array<DurationUnit, 5> kDurationUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::int64_t kMaxDurationMs = 3650LL * 86'400'000;

struct SizeUnit {
  std::string_view suffix;
  std::uint64_t bytes;
};

constexpr std::uint64_t kKB = 1000;
constexpr std::uint64_t kKiB = 1024;

// Largest first so format_size picks the biggest exact unit.
constexpr std::array<SizeUnit, 9> kSizeUnits{{
    {"TiB", kKiB* kKiB* kKiB* kKiB},
    {"TB", kKB* kKB* kKB* kKB},
    {"GiB", kKiB* kKiB* kKiB},
    {"GB", kKB* kKB* kKB},
    {"MiB", kKiB* kKiB},
    {"MB", kKB* kKB},
    {"KiB", kKiB},
    {"KB", kKB},
    {"B", 1},
}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_allowed_unit = 0;  // index into kDurationUnits
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::uint64_t amount = 0;
    if (!read_unsigned(text, pos, amount)) return std::nullopt;
    // "ms" must be tried before "m".
    std::size_t unit_index = kDurationUnits.size();
    if (text.substr(pos, 2) == "ms") {
      unit_index = 4;
    } else if (pos < text.size()) {
      for (std::size_t i = 0; i < 4; ++i) {
        if (text[pos] == kDurationUnits[i].suffix[0]) unit_index = i;
      }
    }
    if (unit_index == kDurationUnits.size() || unit_index < next_allowed_unit) return std::nullopt;
    pos += kDurationUnits[unit_index].suffix.size();
    next_allowed_unit = unit_index + 1;
    const auto unit_ms = static_cast<std::uint64_t>(kDurationUnits[unit_index].milliseconds);
    const auto limit = static_cast<std::uint64_t>(kMaxDurationMs - total);
    if (amount > limit / unit_ms) return std::nullopt;
    total += static_cast<std::int64_t>(amount * unit_ms);
  }
  return Duration{total};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t pos = 0;
  std::uint64_t amount = 0;
  if (!read_unsigned(text, pos, amount)) return std::nullopt;
  const std::string_view unit = text.substr(pos);
  if (unit.empty()) return amount;
  for (const auto& candidate : kSizeUnits) {
    if (iequals(unit, candidate.suffix)) {
      if (amount > std::numeric_limits<std::uint64_t>::max() / candidate.bytes) {
        return std::nullopt;
      }
      return amount * candidate.bytes;
    }
  }
  return std::nullopt;
}

std::optional<double> parse_percent(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  const std::string_view number = text.substr(0, text.size() - 1);
  // from_chars would also accept "inf", "nan" and exponents; insist on a
  // plain decimal so "1e3%" is rejected as a typo.
  bool seen_digit = false;
  bool seen_point = false;
  for (const char c : number) {
    if (is_ascii_digit(c)) {
      seen_digit = true;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      return std::nullopt;
    }
  }
  if (!seen_digit) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value / 100.0;
}

std::string format_duration(Duration duration) {
  std::int64_t remaining = duration.count();
  if (remaining == 0) return "0s";
  std::string text;
  if (remaining < 0) {
    text = "-";
    // Durations come from parse_duration or config defaults; the floor keeps
    // negation defined even for a hand-built minimum value.
    remaining = remaining == std::numeric_limits<std::int64_t>::min()
                    ? std::numeric_limits<std::int64_t>::max()
                    : -remaining;
  }
  for (const auto& unit : kDurationUnits) {
    const std::int64_t amount = remaining / unit.milliseconds;
    if (amount > 0) {
      text += std::to_string(amount);
      text += unit.suffix;
      remaining -= amount * unit.milliseconds;
    }
  }
  return text;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0B";
  for (const auto& unit : kSizeUnits) {
    if (bytes % unit.bytes == 0)
      return std::to_string(bytes / unit.bytes) + std::string(unit.suffix);
  }
  return std::to_string(bytes) + "B";  // unreachable: B divides everything
}

}  // namespace pgvigil::config
