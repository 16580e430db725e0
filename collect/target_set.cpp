#include "collect/target_set.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "config/host_port.hpp"

namespace pgvigil::collect {
namespace {

bool target_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

// Labels a discovered entry uses up: `target` names it, `dbname` picks the
// database; `__`-prefixed ones (Prometheus' meta labels) only feed templates.
bool exported_label(const std::string& name) {
  return name != "target" && name != "dbname" && !name.starts_with("__");
}

bool template_matches(const config::TargetTemplate& entry,
                      const std::map<std::string, std::string>& labels) {
  return std::all_of(entry.match.begin(), entry.match.end(), [&](const auto& wanted) {
    const auto found = labels.find(wanted.first);
    return found != labels.end() && found->second == wanted.second;
  });
}

}  // namespace

std::uint64_t hashmod(std::string_view value, std::uint64_t modulus) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(value.data(), value.size(), digest.data(), &length, EVP_md5(), nullptr);
  std::uint64_t tail = 0;
  for (unsigned i = 8; i < 16; ++i) tail = (tail << 8) | digest[i];
  return modulus == 0 ? 0 : tail % modulus;
}

std::optional<std::uint32_t> parse_shard_argument(std::string_view argument,
                                                  std::string_view hostname) {
  std::string_view digits = argument;
  if (argument == "hostname") {
    const auto dash = hostname.rfind('-');
    if (dash == std::string_view::npos) return std::nullopt;
    digits = hostname.substr(dash + 1);
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt;
  return value;
}

std::string discovered_target_name(const config::SdEntry& entry) {
  const auto label = entry.labels.find("target");
  std::string name =
      label != entry.labels.end() && !label->second.empty() ? label->second : entry.address;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !target_name_char(c); }, '_');
  return name;
}

TargetSet build_target_set(const config::Config& config,
                           const std::vector<DiscoveredSource>& sources) {
  TargetSet out;
  std::map<std::string, std::string> defined_by;  // name -> "static" or "SOURCE (ORIGIN)"
  const auto in_shard = [&](const std::string& name) {
    if (config.shards <= 1 || hashmod(name, config.shards) == config.shard) return true;
    ++out.outside_shard;
    return false;
  };
  for (const auto& target : config.targets) {
    defined_by.emplace(target.name, "[[target]] " + target.name);
    if (!in_shard(target.name)) continue;
    out.targets.push_back(target);
    out.origin_of[target.name] = "[[target]] " + target.name;
  }
  // Targets of other kinds shard alike, by name, so one hashmod splits the whole fleet.
  for (const auto& target : config.service_targets) {
    defined_by.emplace(target.name, "[[target]] " + target.name);
    if (!in_shard(target.name)) continue;
    out.service_targets.push_back(target);
    out.origin_of[target.name] = "[[target]] " + target.name;
  }

  // Collectors that name no targets run on discovered ones too.
  std::vector<config::CollectorConfig> untargeted;
  for (const auto& collector : config.collectors)
    if (collector.targets.empty()) untargeted.push_back(collector);

  for (const auto& source : sources) {
    std::size_t& count = out.per_source[source.name];
    for (const auto& entry : source.entries) {
      const std::string name = discovered_target_name(entry);
      const std::string here = "source " + source.name + " (" + entry.origin + ")";
      if (name.empty()) {
        out.problems.push_back(here + ": empty target name; entry left out");
        continue;
      }
      const auto [first, inserted] = defined_by.emplace(name, here);
      if (!inserted) {
        out.problems.push_back(here + ": target " + name + " is already defined by " +
                               first->second + "; this entry is left out");
        continue;
      }
      const auto address = config::parse_host_port(entry.address, 5432);
      if (!address.value) {
        out.problems.push_back(here + ": target " + name + ": address is not host:port (" +
                               address.error + "); entry left out");
        continue;
      }
      auto match_labels = entry.labels;
      match_labels["__address__"] = entry.address;
      match_labels["__source__"] = source.name;
      const config::TargetConfig* base = &config.discovery_defaults;
      for (const auto& candidate : config.target_templates) {
        if (template_matches(candidate, match_labels)) {
          base = &candidate.base;
          break;
        }
      }
      if (!in_shard(name)) continue;
      out.origin_of[name] = here;
      config::TargetConfig target = *base;
      target.name = name;
      target.conn["host"] = address.value->host;
      target.conn["port"] = std::to_string(address.value->port);
      if (const auto patroni = entry.labels.find("__patroni_url__");
          patroni != entry.labels.end() && !patroni->second.empty())
        target.patroni_url = patroni->second;
      if (const auto dbname = entry.labels.find("dbname");
          dbname != entry.labels.end() && !dbname->second.empty())
        target.conn["dbname"] = dbname->second;
      for (const auto& [label, value] : entry.labels)
        if (exported_label(label)) target.labels[label] = value;  // over the template's
      if (target.collectors.empty()) target.collectors = untargeted;
      out.targets.push_back(std::move(target));
      ++count;
    }
  }
  return out;
}

}  // namespace pgvigil::collect
