#include "probes/redis_info.hpp"

#include <array>
#include <charconv>
#include <cmath>

#include "config/text.hpp"

namespace pgvigil::redis {

namespace {

constexpr std::array<std::string_view, 11> kReasonNames{
    "none",    "connecting", "refused",    "timeout",  "dns",   "auth_failed",
    "loading", "busy",       "masterdown", "protocol", "other",
};

std::optional<double> to_number(std::string_view text) {
  text = config::trim(text);
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

// A line quoted in an error: short, printable, so a broken reply cannot flood
// the log or carry control characters into it.
std::string excerpt(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 60)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte >= 0x7f) ? '?' : c;
  }
  return out;
}

std::string quoted_excerpt(std::string_view line) {
  return "\"" + excerpt(line) + "\"";
}

// "keys=2,expires=1,avg_ttl=99897": the numbers by name.
bool parse_keyspace(std::string_view value, Info::Keyspace& out) {
  bool has_keys = false;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto part = value.substr(0, comma);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) return false;
    const auto number = to_number(part.substr(eq + 1));
    if (!number) return false;
    if (part.substr(0, eq) == "keys") {
      out.keys = *number;
      has_keys = true;
    } else if (part.substr(0, eq) == "expires") {
      out.expires = *number;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return has_keys;
}

}  // namespace

std::string_view to_string(DownReason reason) noexcept {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::span<const std::string_view> down_reason_names() noexcept {
  return kReasonNames;
}

DownReason classify_error_reply(std::string_view error) {
  // The first word of an error reply is its code (Redis' convention).
  const auto code = error.substr(0, error.find(' '));
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") return DownReason::auth_failed;
  // Redis before 6 and a server without requirepass answer AUTH with -ERR.
  if (code == "ERR" && (error.find("invalid password") != std::string_view::npos ||
                        error.find("AUTH") != std::string_view::npos))
    return DownReason::auth_failed;
  if (code == "LOADING") return DownReason::loading;
  if (code == "BUSY") return DownReason::busy;
  if (code == "MASTERDOWN") return DownReason::masterdown;
  return DownReason::other;
}

std::optional<std::string_view> Info::get(std::string_view key) const {
  auto it = fields.find(key);
  if (it == fields.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<double> Info::number(std::string_view key) const {
  auto value = get(key);
  return value ? to_number(*value) : std::nullopt;
}

InfoResult parse_info(std::string_view text) {
  InfoResult result;
  Info info;
  std::string_view section;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      section = config::trim(line.substr(1));
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      result.error =
          "INFO line " + std::to_string(line_number) + " is not key:value: " + quoted_excerpt(line);
      return result;
    }
    const auto key = line.substr(0, colon);
    const auto value = line.substr(colon + 1);
    if (section == "Keyspace") {
      Info::Keyspace db;
      db.db = std::string(key);
      if (!parse_keyspace(value, db)) {
        result.error = "INFO keyspace line " + std::to_string(line_number) +
                       " has no keys=N: " + quoted_excerpt(line);
        return result;
      }
      info.keyspace.push_back(std::move(db));
      continue;
    }
    info.fields.insert_or_assign(std::string(key), std::string(value));
  }
  // Every INFO of every Redis version has these; without them the text is
  // something else (an error reply's text, another protocol's banner).
  if (!info.fields.contains("redis_version") || !info.fields.contains("uptime_in_seconds")) {
    result.error = "INFO reply lacks redis_version or uptime_in_seconds";
    return result;
  }
  result.info = std::move(info);
  return result;
}

void collect_info(const Info& info, const ConfigValues& config, SampleSink& out) {
  const auto gauge = [&](std::string_view name, std::string_view help, std::string_view field) {
    if (auto value = info.number(field)) out.gauge(name, help, {}, *value);
  };
  const auto counter = [&](std::string_view name, std::string_view help, std::string_view field) {
    if (auto value = info.number(field)) out.counter(name, help, {}, *value);
  };
  gauge("redis_uptime_in_seconds", "Seconds since the Redis server started.", "uptime_in_seconds");
  gauge("redis_connected_clients", "Client connections (replicas excluded).", "connected_clients");
  gauge("redis_blocked_clients", "Clients blocked in BLPOP and the like.", "blocked_clients");
  if (auto maxclients = config.maxclients ? config.maxclients : info.number("maxclients"))
    out.gauge("redis_config_maxclients", "The maxclients setting.", {}, *maxclients);
  counter("redis_rejected_connections_total", "Connections refused because maxclients was reached.",
          "rejected_connections");
  gauge("redis_memory_used_bytes", "Memory Redis allocated (used_memory).", "used_memory");
  if (auto maxmemory = config.maxmemory ? config.maxmemory : info.number("maxmemory"))
    out.gauge("redis_memory_max_bytes", "The maxmemory setting; 0 means no limit.", {}, *maxmemory);
  gauge("redis_mem_fragmentation_ratio", "used_memory_rss / used_memory.",
        "mem_fragmentation_ratio");
  counter("redis_evicted_keys_total", "Keys evicted because of maxmemory.", "evicted_keys");
  counter("redis_expired_keys_total", "Keys deleted because their TTL passed.", "expired_keys");
  counter("redis_keyspace_hits_total", "Successful key lookups.", "keyspace_hits");
  counter("redis_keyspace_misses_total", "Failed key lookups.", "keyspace_misses");
  counter("redis_commands_processed_total", "Commands the server processed.",
          "total_commands_processed");
  gauge("redis_connected_slaves", "Replicas connected to this server.", "connected_slaves");

  // redis_exporter's instance info: the facts that are text, as labels.
  Labels labels;
  for (std::string_view key : {"role", "redis_version", "redis_build_id", "redis_mode", "os",
                               "maxmemory_policy", "tcp_port", "run_id", "process_id"}) {
    labels.emplace_back(std::string(key), std::string(info.get(key).value_or("")));
  }
  out.gauge("redis_instance_info", "Always 1; the server's version, role and identity as labels.",
            labels, 1);

  const auto status_ok = [&](std::string_view name, std::string_view help, std::string_view field) {
    if (auto value = info.get(field)) out.gauge(name, help, {}, *value == "ok" ? 1 : 0);
  };
  status_ok("redis_rdb_last_bgsave_status", "1 when the last RDB save (BGSAVE) succeeded.",
            "rdb_last_bgsave_status");
  status_ok("redis_aof_last_write_status", "1 when the last AOF write succeeded.",
            "aof_last_write_status");

  // Only a replica has a master link.
  if (info.get("role") == "slave") {
    if (auto status = info.get("master_link_status")) {
      out.gauge("redis_master_link_up", "1 when this replica's link to its master is up.",
                {{"master_host", std::string(info.get("master_host").value_or(""))},
                 {"master_port", std::string(info.get("master_port").value_or(""))}},
                *status == "up" ? 1 : 0);
    }
  }

  for (const auto& db : info.keyspace) {
    out.gauge("redis_db_keys", "Keys in the database.", {{"db", db.db}}, db.keys);
    out.gauge("redis_db_keys_expiring", "Keys with a TTL in the database.", {{"db", db.db}},
              db.expires);
  }
}

void Liveness::emit(SampleSink& out) const {
  out.gauge("redis_up", "1 when the last round (AUTH, PING, INFO) succeeded within its deadline.",
            {}, up ? 1 : 0);
  out.state_set("redis_connection_failure",
                "Why the Redis target cannot be reached; none when it can.", {}, "reason",
                down_reason_names(), to_string(reason));
  for (const auto& [failed, count] : failures) {
    out.counter("redis_connection_failures_total", "Failed rounds by reason.",
                {{"reason", std::string(to_string(failed))}}, static_cast<double>(count));
  }
  if (connect_seconds)
    out.gauge("redis_connect_duration_seconds", "Time the last successful connection took.", {},
              *connect_seconds);
  if (rtt_seconds)
    out.gauge("redis_probe_rtt_seconds", "Round trip of the last PING.", {}, *rtt_seconds);
}

}  // namespace pgvigil::redis
