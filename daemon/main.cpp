// pgvigil: watches PostgreSQL servers, serves what it sees as Prometheus
// metrics and pages through Alertmanager when a runbook says a human must act.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/prometheus_rules.hpp"
#include "collect/sd_sources.hpp"
#include "collect/target_set.hpp"
#include "config/parse.hpp"
#include "config/queries_yaml.hpp"
#include "daemon/app.hpp"
#include "daemon/logging.hpp"
#include "daemon/preflight.hpp"

namespace {

constexpr std::string_view kUsage =
    "Usage: pgvigil COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  run -c FILE          run the daemon with the given configuration\n"
    "  check-config FILE    validate FILE and print the effective configuration\n"
    "                       and the targets discovery yields now (secrets\n"
    "                       redacted); exit 1 on error\n"
    "  rules [-c FILE] [--kubernetes NAME]\n"
    "                       print the alert rules as a Prometheus rule file\n"
    "                       (or a PrometheusRule object named NAME)\n"
    "  convert-queries FILE print postgres_exporter's queries.yaml FILE as\n"
    "                       [[collector]] tables\n"
    "  version              print the version\n"
    "\n"
    "Run 'pgvigil COMMAND --help' for the options of a command.\n";

constexpr std::string_view kRunUsage =
    "Usage: pgvigil run -c FILE [--log-level LEVEL] [--shard N|hostname]\n"
    "\n"
    "Runs the daemon: probes every configured target, serves /metrics, /health,\n"
    "/ready and / on the [server] listen addresses, and evaluates alerts.\n"
    "SIGHUP reloads FILE (an invalid file keeps the running configuration);\n"
    "SIGTERM or SIGINT stop it.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      configuration file (TOML)\n"
    "  --log-level LEVEL      override [log] level (trace|debug|info|warn|error)\n"
    "  --shard N|hostname     this process's shard (overrides `shard`; 'hostname' takes the\n"
    "                         host name's trailing -N, e.g. a StatefulSet pod's ordinal)\n";

constexpr std::string_view kRulesUsage =
    "Usage: pgvigil rules [-c FILE] [--kubernetes NAME]\n"
    "\n"
    "Prints a Prometheus rule file (groups pgvigil.rules and pgvigil.selfmonitoring)\n"
    "with the alerts the daemon evaluates itself, over pgvigil's metrics, with the\n"
    "thresholds and `for` durations of FILE's [alerting.rules] and [target.rules]\n"
    "(the defaults without -c). Check it with `promtool check rules`.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      configuration file (TOML)\n"
    "  --kubernetes NAME      print the same groups as a Prometheus Operator object\n"
    "                         (apiVersion monitoring.coreos.com/v1, kind PrometheusRule)\n"
    "                         named NAME, labelled app.kubernetes.io/name: pgvigil, the\n"
    "                         groups under spec.groups; for `kubectl apply -f -`\n";

constexpr std::string_view kCheckUsage =
    "Usage: pgvigil check-config FILE\n"
    "\n"
    "Validates FILE. On success prints warnings (to stderr) and the effective\n"
    "configuration with every default filled in and secrets redacted (to stdout),\n"
    "and exits 0. On error prints each problem as FILE:LINE:COLUMN: KEY: MESSAGE\n"
    "and exits 1.\n";

constexpr std::string_view kConvertUsage =
    "Usage: pgvigil convert-queries FILE\n"
    "\n"
    "Reads FILE in postgres_exporter's queries.yaml format and prints the same\n"
    "queries as pgvigil [[collector]] tables (TOML, docs/collectors.md), with\n"
    "the metric names postgres_exporter gives them. What cannot be mapped\n"
    "(MAPPEDMETRIC, DURATION) is named on stderr. pgvigil also reads FILE as it\n"
    "is from collector_files. Exits 1 when FILE cannot be used.\n";

bool wants_help(const std::vector<std::string_view>& args) {
  for (auto arg : args)
    if (arg == "-h" || arg == "--help") return true;
  return false;
}

// Loads the file for a one-shot command: warnings and errors go to stderr,
// each naming file:line:column.
std::optional<pgvigil::config::Config> load_for_command(const std::string& path) {
  auto loaded = pgvigil::config::load_config_file(path, pgvigil::alerts::config_vocabulary());
  for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << "\n";
  for (const auto& error : loaded.errors) std::cerr << error.to_string() << "\n";
  return std::move(loaded.config);
}

int convert_queries(const std::vector<std::string_view>& args) {
  if (wants_help(args)) {
    std::cout << kConvertUsage;
    return 0;
  }
  if (args.size() != 1) {
    std::cerr << kConvertUsage;
    return 2;
  }
  const std::string path(args[0]);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    std::cerr << path << ": cannot read\n";
    return 1;
  }
  const auto yaml = pgvigil::config::parse_queries_yaml(text.str(), path);
  for (const auto& note : yaml.notes) std::cerr << "warning: " << note.to_string() << "\n";
  for (const auto& error : yaml.errors) std::cerr << error.to_string() << "\n";
  if (!yaml.errors.empty()) return 1;
  std::cout << "# Converted from " << path << " by pgvigil convert-queries.\n\n"
            << pgvigil::config::render_collectors_toml(yaml.collectors);
  return 0;
}

int check_config(const std::vector<std::string_view>& args) {
  if (wants_help(args)) {
    std::cout << kCheckUsage;
    return 0;
  }
  if (args.size() != 1) {
    std::cerr << kCheckUsage;
    return 2;
  }
  auto config = load_for_command(std::string(args[0]));
  if (!config) return 1;
  const auto problems = pgvigil::check_config_dependencies(*config);
  for (const auto& problem : problems) std::cerr << args[0] << ": " << problem << "\n";
  if (!problems.empty()) return 1;
  std::cout << pgvigil::config::render_effective_config(*config);
  if (config->file_sd.empty() && config->http_sd.empty() && config->patroni_sd.empty()) return 0;

  // What discovery yields right now, through the same sources, templates and
  // shard the daemon uses; a source that fails here is reported, not fatal.
  std::vector<std::string> source_problems;
  const auto sources = pgvigil::collect::discover_once(*config, source_problems);
  const auto set = pgvigil::collect::build_target_set(*config, sources);
  std::cout << "\n# Targets as discovered now";
  if (config->shards > 1)
    std::cout << ", shard " << config->shard << " of " << config->shards << " ("
              << set.outside_shard << " left to other shards)";
  std::cout << ":";
  for (const auto& source : sources)
    std::cout << " " << source.name << " " << source.entries.size() << " entries;";
  std::cout << " " << set.targets.size() + set.service_targets.size() << " targets in all.\n";
  // Targets of other kinds are static (rendered above); say which this shard keeps.
  if (!config->service_targets.empty()) {
    std::cout << "# Redis, pgbouncer and Neo4j targets of this shard ("
              << set.service_targets.size() << " of " << config->service_targets.size() << "):";
    for (const auto& service : set.service_targets) std::cout << " " << service.name;
    std::cout << "\n";
  }
  for (const auto& problem : source_problems) std::cout << "# problem: " << problem << "\n";
  for (const auto& problem : set.problems) std::cout << "# problem: " << problem << "\n";
  std::cout << "\n";
  for (const auto& target : set.targets) {
    const auto origin = set.origin_of.find(target.name);
    std::cout << pgvigil::config::render_target_block(
        target, origin == set.origin_of.end() ? "" : "from " + origin->second);
  }
  return 0;
}

int print_rules(const std::vector<std::string_view>& args) {
  if (wants_help(args)) {
    std::cout << kRulesUsage;
    return 0;
  }
  std::string path;
  std::optional<std::string> object_name;  // --kubernetes NAME
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i] == "--kubernetes" && i + 1 < args.size()) {
      object_name = args[++i];
      if (!pgvigil::alerts::valid_kubernetes_name(*object_name)) {
        std::cerr << "pgvigil rules: --kubernetes takes a Kubernetes object name (lowercase "
                     "letters, digits, '-' and '.', starting and ending with a letter or digit); "
                     "got '"
                  << *object_name << "'\n";
        return 2;
      }
    } else {
      std::cerr << "pgvigil rules: unexpected argument '" << args[i] << "'\n" << kRulesUsage;
      return 2;
    }
  }
  std::optional<pgvigil::config::Config> config = pgvigil::config::Config{};
  std::string source = "the default configuration";
  if (!path.empty()) {
    config = load_for_command(path);
    if (!config) return 1;
    source = path;
  }
  std::cout << (object_name
                    ? pgvigil::alerts::render_prometheus_rule_object(*config, source, *object_name)
                    : pgvigil::alerts::render_prometheus_rules(*config, source));
  return 0;
}

int run(const std::vector<std::string_view>& args) {
  if (wants_help(args)) {
    std::cout << kRunUsage;
    return 0;
  }
  // Blocks of 1 MB or more (a large fleet's /metrics bodies, tens of MB, made
  // on the loop or a worker; their gzip) get their own mapping, given back
  // when freed. glibc's default raises this threshold to the size of the
  // first such block freed, after which bodies land in a thread's arena and
  // stay resident after they are gone (bench/scale at 1000 targets: an RSS
  // peak of 354 MB before this and the exposition's buffer lending, 272 MB
  // after).
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  std::string path;
  std::string level_override;
  std::optional<std::uint32_t> shard;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i] == "--shard" && i + 1 < args.size()) {
      char host[256] = {};
      (void)::gethostname(host, sizeof host - 1);
      shard = pgvigil::collect::parse_shard_argument(args[++i], host);
      if (!shard) {
        std::cerr << "pgvigil run: --shard takes a number or 'hostname' (the host name's "
                     "trailing -NUMBER, as in a StatefulSet); got '"
                  << args[i] << "' (host name '" << host << "')\n";
        return 2;
      }
    } else if (args[i] == "--log-level" && i + 1 < args.size()) {
      level_override = args[++i];
      if (std::find(pgvigil::config::kLogLevels.begin(), pgvigil::config::kLogLevels.end(),
                    level_override) == pgvigil::config::kLogLevels.end()) {
        std::cerr << "pgvigil run: --log-level must be one of trace, debug, info, warn, error, "
                     "critical, off; got '"
                  << level_override << "'\n";
        return 2;
      }
    } else {
      std::cerr << "pgvigil run: unexpected argument '" << args[i] << "'\n" << kRunUsage;
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "pgvigil run: -c FILE is required\n" << kRunUsage;
    return 2;
  }
  auto loaded = pgvigil::config::load_config_file(path, pgvigil::alerts::config_vocabulary());
  if (!loaded.config) {
    for (const auto& error : loaded.errors) std::cerr << error.to_string() << "\n";
    return 1;
  }
  if (!level_override.empty()) loaded.config->log.level = level_override;
  if (shard && *shard >= loaded.config->shards) {
    std::cerr << "pgvigil run: --shard " << *shard
              << " is not below shards = " << loaded.config->shards << " in " << path << "\n";
    return 2;
  }
  pgvigil::setup_logging(loaded.config->log);
  for (const auto& warning : loaded.warnings) spdlog::warn("config: {}", warning);
  if (const auto problems = pgvigil::check_config_dependencies(*loaded.config); !problems.empty()) {
    for (const auto& problem : problems) spdlog::critical("config: {}", problem);
    spdlog::critical("cannot start: {} names something that cannot be used", path);
    return 1;
  }
  try {
    pgvigil::App app(std::move(*loaded.config));
    // A reload reads [log] level from the file again; the command line wins.
    app.override_log_level(level_override);
    if (shard) app.override_shard(*shard);
    app.start();
    spdlog::info("pgvigil {} started", PGVIGIL_VERSION);
    return app.run();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const auto command = args.front();
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::cout << "pgvigil " << PGVIGIL_VERSION << " (revision " << PGVIGIL_REVISION << ")\n";
    return 0;
  }
  if (command == "check-config") return check_config(rest);
  if (command == "run") return run(rest);
  if (command == "rules") return print_rules(rest);
  if (command == "convert-queries") return convert_queries(rest);
  std::cerr << "pgvigil: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
