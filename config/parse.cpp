// Loading pgvigil.toml: read the file, run the section parsers (config_parser.hpp,
// parse_*.cpp) over the TOML, fold the global defaults into each target.
#include "config/parse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "config/config_parser.hpp"
#include "config/redaction.hpp"
#include "config/text.hpp"
#include "config/toml_text_check.hpp"

namespace pgvigil::config {

std::string ConfigError::to_string() const {
  std::string text = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key.empty()) text += key + ": ";
  text += message;
  return text;
}

LoadResult ConfigParser::parse(std::string_view text) {
  toml::table root;
  bool parsed = false;
  if (auto problem = check_toml_text(text)) {
    toml::source_region where;
    where.begin = {static_cast<toml::source_index>(problem->line),
                   static_cast<toml::source_index>(problem->column)};
    error(where, "", "TOML syntax error: " + problem->message);
  } else {
    try {
      root = toml::parse(text, source_name());
      parsed = true;
    } catch (const toml::parse_error& failure) {
      error(failure.source(), "", "TOML syntax error: " + std::string(failure.description()));
    } catch (const std::exception& failure) {
      file_error(std::string("cannot parse: ") + failure.what());
    }
  }
  if (parsed) {
    config_.source_path = source_name();
    parse_root(root);
    load_collector_files();
    resolve_collectors();
    apply_global_defaults();
  }
  LoadResult result;
  result.errors = take_errors();
  result.warnings = take_warnings();
  if (result.errors.empty()) result.config = std::move(config_);
  return result;
}

void ConfigParser::parse_root(const toml::table& root) {
  const Field root_field{"", root, root.source()};
  dispatch(
      root_field,
      {
          {"state_directory", [&](const Field& f) { read_string(f, config_.state_directory); }},
          {"max_connection_attempts",
           [&](const Field& f) {
             if (auto n = as_integer(f, 1, 10'000))
               config_.max_connection_attempts = static_cast<std::size_t>(*n);
           }},
          {"server", [&](const Field& f) { parse_server(f); }},
          {"log", [&](const Field& f) { parse_log(f); }},
          {"probes", [&](const Field& f) { parse_probe_map(f, config_.probes); }},
          {"alerting", [&](const Field& f) { parse_alerting(f); }},
          {"target",
           [&](const Field& f) { each_table(f, [&](const Field& item) { parse_target(item); }); }},
          {"target_template",
           [&](const Field& f) {
             each_table(f, [&](const Field& item) { parse_target_template(item); });
           }},
          {"file_sd",
           [&](const Field& f) { each_table(f, [&](const Field& item) { parse_file_sd(item); }); }},
          {"http_sd",
           [&](const Field& f) { each_table(f, [&](const Field& item) { parse_http_sd(item); }); }},
          {"patroni_sd",
           [&](const Field& f) {
             each_table(f, [&](const Field& item) { parse_patroni_sd(item); });
           }},
          {"shards",
           [&](const Field& f) {
             if (auto n = as_integer(f, 1, 1'000'000))
               config_.shards = static_cast<std::uint32_t>(*n);
           }},
          {"shard",
           [&](const Field& f) {
             if (auto n = as_integer(f, 0, 999'999)) config_.shard = static_cast<std::uint32_t>(*n);
           }},
          {"collector", [&](const Field& f) { parse_collectors(f); }},
          {"collector_files", [&](const Field& f) { read_strings(f, config_.collector_files); }},
      });
  check_shards(root);
  check_source_names();
  if (config_.targets.empty() && config_.service_targets.empty() && config_.file_sd.empty() &&
      config_.http_sd.empty() && config_.patroni_sd.empty() && !has_errors()) {
    file_warning("no [[target]] and no discovery configured; nothing will be monitored");
  }
}

// [probes.NAME] and [alerting.rules.NAME] are defaults for every target;
// folding them in here means consumers only ever read the target.
void ConfigParser::apply_global_defaults() {
  for (TargetTemplate& entry : config_.target_templates) fold_global_defaults(entry.base);
  fold_global_defaults(config_.discovery_defaults);
  for (TargetConfig& target : config_.targets) fold_global_defaults(target);
  // A target of another kind has no probes, only rules.
  for (ServiceTargetConfig& target : config_.service_targets) {
    for (const auto& [name, global] : config_.alerting.rules) {
      RuleOverride& own = target.rules[name];
      if (!own.enabled) own.enabled = global.enabled;
      if (!own.for_duration) own.for_duration = global.for_duration;
      for (const auto& [threshold, value] : global.thresholds)
        own.thresholds.emplace(threshold, value);
    }
  }
}

void ConfigParser::fold_global_defaults(TargetConfig& target) const {
  for (const auto& [name, global] : config_.probes) {
    ProbeSettings& own = target.probes[name];
    if (!own.enabled) own.enabled = global.enabled;
    if (!own.interval) own.interval = global.interval;
    if (!own.timeout) own.timeout = global.timeout;
    if (!own.top_n) own.top_n = global.top_n;
    if (own.include_databases.empty()) own.include_databases = global.include_databases;
    if (own.exclude_databases.empty()) own.exclude_databases = global.exclude_databases;
  }
  for (const auto& [name, global] : config_.alerting.rules) {
    RuleOverride& own = target.rules[name];
    if (!own.enabled) own.enabled = global.enabled;
    if (!own.for_duration) own.for_duration = global.for_duration;
    for (const auto& [threshold, value] : global.thresholds) {
      own.thresholds.emplace(threshold, value);  // keeps the target's own value
    }
  }
}

namespace {

bool config_holds_secret(const Config& config) {
  if (!config.server.basic_auth_users.empty()) return true;
  return std::any_of(config.targets.begin(), config.targets.end(), [](const TargetConfig& target) {
    return target.conn.count("password") != 0 ||
           redact_conninfo(target.conninfo) != target.conninfo;
  });
}

}  // namespace

LoadResult parse_config_text(std::string_view text, const std::string& source_name,
                             const Vocabulary& names) {
  return ConfigParser(source_name, names).parse(text);
}

LoadResult load_config_file(const std::string& path, const Vocabulary& names) {
  const auto unreadable = [&](int error_number) {
    LoadResult result;
    result.errors.push_back(
        {path, 0, 0, "", "cannot read config file: " + std::string(std::strerror(error_number))});
    return result;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable(errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error_number = errno;
    ::close(fd);
    return unreadable(error_number);
  }
  // A config is a few kilobytes; refuse anything absurd rather than read it.
  constexpr off_t kMaxConfigBytes = 4 * 1024 * 1024;
  if (S_ISREG(info.st_mode) && info.st_size > kMaxConfigBytes) {
    ::close(fd);
    LoadResult result;
    result.errors.push_back({path, 0, 0, "", "config file is larger than 4MiB"});
    return result;
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      return unreadable(error_number);
    }
    if (count == 0) break;
    text.append(buffer, static_cast<std::size_t>(count));
    if (text.size() > static_cast<std::size_t>(kMaxConfigBytes)) {
      ::close(fd);
      LoadResult result;
      result.errors.push_back({path, 0, 0, "", "config file is larger than 4MiB"});
      return result;
    }
  }
  ::close(fd);

  LoadResult result = parse_config_text(text, path, names);
  if (result.config && config_holds_secret(*result.config) &&
      (info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    result.warnings.push_back(path + ":0:0: the file holds secrets but is readable by " +
                              ((info.st_mode & S_IROTH) != 0 ? "everyone" : "its group") +
                              "; run chmod 600 (or 640 with a dedicated group) on it");
  }
  return result;
}

std::optional<std::pair<Comparison, double>> parse_expect(std::string_view text) {
  text = trim(text);
  struct Operator {
    std::string_view symbol;
    Comparison comparison;
  };
  // Two-character operators first so ">=" is not read as ">".
  constexpr std::array<Operator, 6> kOperators{{
      {">=", Comparison::greater_equal},
      {"<=", Comparison::less_equal},
      {"==", Comparison::equal},
      {"!=", Comparison::not_equal},
      {">", Comparison::greater},
      {"<", Comparison::less},
  }};
  for (const auto& op : kOperators) {
    if (text.substr(0, op.symbol.size()) != op.symbol) continue;
    const std::string_view number = trim(text.substr(op.symbol.size()));
    if (number.empty()) return std::nullopt;
    // from_chars rejects a leading '+', which people do write.
    const std::string_view digits = number.front() == '+' ? number.substr(1) : number;
    if (number.front() == '+' && !digits.empty() && digits.front() == '-') return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        !std::isfinite(value)) {
      return std::nullopt;
    }
    return std::pair(op.comparison, value);
  }
  return std::nullopt;
}

}  // namespace pgvigil::config
