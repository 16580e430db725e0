#pragma once
// Human-friendly durations and sizes as written in pgvigil.toml.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace pgvigil::config {

// "500ms", "30s", "5m", "24h", "1d" and compounds such as "1h30m" (units
// d > h > m > s > ms, each at most once, largest first). Integers only; no
// sign, no spaces, no bare numbers. Rejects values above 3650 days so callers
// can add any parsed duration to a time point without overflow.
std::optional<Duration> parse_duration(std::string_view text);

// "1024" (bytes), "16KB", "10GB", "512MiB". Decimal units KB/MB/GB/TB are
// powers of 1000, binary KiB/MiB/GiB/TiB powers of 1024, B is bytes; units are
// case-insensitive. Integers only. Rejects values that do not fit in 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "80%" -> 0.8. A plain decimal number followed by '%'; 0..100 not enforced.
std::optional<double> parse_percent(std::string_view text);

// Inverse of parse_duration: the shortest compound form ("1h30m", "0s").
std::string format_duration(Duration duration);

// Inverse of parse_size: the largest unit that divides the value exactly
// ("16KiB", "1MB", "1000B" is written "1KB", "0B").
std::string format_size(std::uint64_t bytes);

}  // namespace pgvigil::config
