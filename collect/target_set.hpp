#pragma once
// The targets this process monitors: the static [[target]]s, then every
// discovery source's entries turned into targets through the first matching
// [[target_template]], then the shard's share of the lot. Pure: the sources'
// I/O is in collect/sd_sources.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/sd_format.hpp"

namespace pgvigil::collect {

// A discovery source's last good list.
struct DiscoveredSource {
  std::string name;  // FileSdConfig/HttpSdConfig name: the `source` label
  std::vector<config::SdEntry> entries;
};

struct TargetSet {
  std::vector<config::TargetConfig> targets;  // this shard's, static ones first
  // This shard's targets of other kinds (static only: discovery yields none).
  std::vector<config::ServiceTargetConfig> service_targets;
  std::map<std::string, std::size_t> per_source;  // targets each source contributed (this shard)
  std::vector<std::string> problems;              // entries left out and why, one line each
  std::size_t outside_shard = 0;                  // targets another shard monitors
  std::map<std::string, std::string>
      origin_of;  // target -> "source S (FILE:LINE)" or "[[target]] N"
};

// Prometheus' hashmod relabel action: MD5 of the value, the last 8 bytes
// read big-endian, modulo `modulus`.
std::uint64_t hashmod(std::string_view value, std::uint64_t modulus);

// --shard's argument: a number, or "hostname" for the trailing number of the
// host name (a StatefulSet pod "pgvigil-2" is shard 2). Nothing when neither.
std::optional<std::uint32_t> parse_shard_argument(std::string_view argument,
                                                  std::string_view hostname);

// A discovered entry's target name: its `target` label, else its address,
// with characters a target name cannot hold replaced by '_'.
std::string discovered_target_name(const config::SdEntry& entry);

// Builds the set. Name clashes keep the first definition: static targets
// (PostgreSQL and the other kinds; the parser already refused duplicates among them),
// then sources in config order (file_sd before http_sd), then entry order.
TargetSet build_target_set(const config::Config& config,
                           const std::vector<DiscoveredSource>& sources);

}  // namespace pgvigil::collect
