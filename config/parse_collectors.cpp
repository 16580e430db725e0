// [[collector]] (inline or in the files collector_files names): custom SQL
// collectors, checked against each other, the built-in metric names and the
// targets they apply to. docs/collectors.md describes the keys.
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config_parser.hpp"
#include "config/queries_yaml.hpp"
#include "config/text.hpp"
#include "config/toml_text_check.hpp"

namespace pgvigil::config {
namespace {

constexpr std::size_t kMaxCap = 100'000;
constexpr std::int64_t kMaxVersionNum = 9'999'999;
constexpr std::uintmax_t kMaxCollectorFileBytes = 4 * 1024 * 1024;

bool valid_metric_part(std::string_view name) {
  if (name.empty() || is_ascii_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_'; });
}

// Label names a collector's label column may not take: the ones pgvigil puts
// on every series of a target, or on a check's.
constexpr std::string_view kReservedLabels[] = {"target", "check", "collector", "__name__"};

std::string where(const std::string& file, const toml::source_region& at) {
  return file + ":" + std::to_string(at.begin.line);
}

}  // namespace

void ConfigParser::parse_collectors(const Field& field) {
  each_table(field, [&](const Field& item) { parse_collector(item); });
}

void ConfigParser::parse_collector(const Field& field) {
  CollectorConfig collector;
  collector.defined_at = where(source_name(), field.at);
  std::optional<Field> sql_field;
  bool has_name = false;
  bool has_columns = false;
  dispatch(field,
           {
               {"name",
                [&](const Field& f) {
                  read_string(f, collector.name);
                  has_name = true;
                  if (!collector.name.empty() && !valid_metric_part(collector.name)) {
                    error(f, "invalid collector name " + config::quoted(collector.name) +
                                 ": it prefixes metric names, use letters, digits and _");
                    collector.name.clear();
                  } else if (collector.name.rfind("pgvigil_", 0) == 0) {
                    error(f, "collector " + config::quoted(collector.name) +
                                 ": the prefix pgvigil_ is reserved for pgvigil's own metrics");
                    collector.name.clear();
                  }
                }},
               {"sql",
                [&](const Field& f) {
                  std::string sql;
                  read_string(f, sql);
                  if (!sql.empty()) collector.branches.push_back({0, 0, sql});
                  sql_field.emplace(f);
                }},
               {"branch",
                [&](const Field& f) {
                  each_table(f, [&](const Field& b) { parse_collector_branch(b, collector); });
                }},
               {"database",
                [&](const Field& f) {
                  std::string database;
                  read_string(f, database);
                  if (!database.empty()) collector.databases.push_back(database);
                }},
               {"databases", [&](const Field& f) { read_strings(f, collector.databases); }},
               {"exclude_databases",
                [&](const Field& f) { read_strings(f, collector.exclude_databases); }},
               {"targets", [&](const Field& f) { read_strings(f, collector.targets); }},
               {"interval", [&](const Field& f) { read_duration(f, collector.interval); }},
               {"timeout", [&](const Field& f) { read_duration(f, collector.timeout); }},
               {"max_rows",
                [&](const Field& f) {
                  if (auto n = as_integer(f, 1, kMaxCap)) collector.max_rows = std::size_t(*n);
                }},
               {"max_series",
                [&](const Field& f) {
                  if (auto n = as_integer(f, 1, kMaxCap)) collector.max_series = std::size_t(*n);
                }},
               {"columns",
                [&](const Field& f) {
                  has_columns = true;
                  parse_collector_columns(f, collector);
                }},
           });
  if (!field.node.is_table()) return;
  const std::string label =
      "collector " +
      (collector.name.empty() ? std::string("(unnamed)") : config::quoted(collector.name));
  if (!has_name) missing(field, "name");
  const bool has_branches = field.node.as_table()->contains("branch");
  if (sql_field && has_branches)
    error(*sql_field, label + ": give either sql or [[collector.branch]]es, not both");
  else if (!sql_field && !has_branches)
    error(field, label + ": needs sql or at least one [[collector.branch]]");
  if (!has_columns) {
    missing(field, "columns");
  } else if (std::none_of(collector.columns.begin(), collector.columns.end(), [](const auto& c) {
               return c.usage == ColumnUsage::gauge || c.usage == ColumnUsage::counter;
             })) {
    error(field, label + ": no gauge or counter column, so it would produce no metric");
  }
  for (const auto& c : collector.columns)
    if (c.usage == ColumnUsage::label && c.name == "datname" && collector.walks_databases())
      error(field, label +
                       ": label column \"datname\" clashes with the label pgvigil adds when a "
                       "collector runs in several databases");
  if (!collector.exclude_databases.empty() && !collector.walks_databases())
    error(field, label + ": exclude_databases needs databases with a glob or several names");
  config_.collectors.push_back(std::move(collector));
}

void ConfigParser::parse_collector_branch(const Field& field, CollectorConfig& collector) {
  CollectorBranch branch;
  dispatch(field, {
                      {"min_version",
                       [&](const Field& f) {
                         if (auto n = as_integer(f, 0, kMaxVersionNum))
                           branch.min_version = int(*n);
                       }},
                      {"max_version",
                       [&](const Field& f) {
                         if (auto n = as_integer(f, 0, kMaxVersionNum))
                           branch.max_version = int(*n);
                       }},
                      {"sql", [&](const Field& f) { read_string(f, branch.sql); }},
                  });
  if (!field.node.is_table()) return;
  if (!field.node.as_table()->contains("sql")) missing(field, "sql");
  if (branch.max_version != 0 && branch.max_version < branch.min_version)
    error(field, "max_version " + std::to_string(branch.max_version) + " is below min_version " +
                     std::to_string(branch.min_version) + ": this branch would never run");
  collector.branches.push_back(std::move(branch));
}

void ConfigParser::parse_collector_columns(const Field& field, CollectorConfig& collector) {
  static const std::vector<std::string_view> kUsages{"label", "gauge", "counter", "discard"};
  const auto usage_of = [](const std::string& text) {
    if (text == "label") return ColumnUsage::label;
    if (text == "gauge") return ColumnUsage::gauge;
    if (text == "counter") return ColumnUsage::counter;
    return ColumnUsage::discard;
  };
  each_member(field, [&](const Field& f, std::string_view key) {
    CollectorColumn column;
    column.name = std::string(key);
    if (!valid_metric_part(column.name)) {
      error(f, "invalid column name " + config::quoted(column.name) +
                   ": it becomes a metric or label name, use letters, digits and _");
      return;
    }
    if (f.node.is_string()) {
      std::string usage;
      read_choice(f, usage, kUsages);
      if (usage.empty()) return;
      column.usage = usage_of(usage);
    } else if (f.node.is_table()) {
      bool has_usage = false;
      std::optional<Field> expect_field;
      dispatch(f, {
                      {"usage",
                       [&](const Field& u) {
                         std::string usage;
                         read_choice(u, usage, kUsages);
                         if (!usage.empty()) column.usage = usage_of(usage);
                         has_usage = !usage.empty();
                       }},
                      {"help", [&](const Field& h) { read_string(h, column.help); }},
                      {"expect",
                       [&](const Field& e) {
                         expect_field.emplace(e);
                         const std::string* text = as_string(e);
                         if (text == nullptr) return;
                         const auto expectation = parse_expect(*text);
                         if (!expectation) {
                           error(e, "invalid expect " + config::quoted(*text) +
                                        ": use an operator (>, >=, <, <=, ==, !=) and a number, "
                                        "e.g. \"< 1000\"");
                           return;
                         }
                         column.has_expect = true;
                         column.comparison = expectation->first;
                         column.threshold = expectation->second;
                         column.expect = std::string(trim(*text));
                       }},
                      {"for", [&](const Field& d) { read_duration(d, column.for_duration, true); }},
                      {"severity",
                       [&](const Field& s) {
                         read_choice(s, column.severity, {"info", "warning", "critical"});
                       }},
                  });
      if (!f.node.as_table()->contains("usage")) missing(f, "usage");
      if (!has_usage) return;
      if (expect_field && column.usage != ColumnUsage::gauge &&
          column.usage != ColumnUsage::counter)
        error(*expect_field, "expect needs a gauge or counter column");
    } else {
      error(f,
            "expected a usage (\"label\", \"gauge\", \"counter\", \"discard\") or a table, got " +
                std::string(type_name(f.node)));
      return;
    }
    if (column.usage == ColumnUsage::label &&
        std::find(std::begin(kReservedLabels), std::end(kReservedLabels), column.name) !=
            std::end(kReservedLabels))
      error(f,
            "label column " + config::quoted(column.name) + " clashes with a label pgvigil sets");
    collector.columns.push_back(std::move(column));
  });
}

void ConfigParser::load_collector_files() {
  if (config_.collector_files.empty()) return;
  const std::filesystem::path base = std::filesystem::path(source_name()).parent_path();
  std::set<std::string> seen;
  for (const auto& pattern : config_.collector_files) {
    std::filesystem::path full(pattern);
    if (full.is_relative()) full = base / full;
    glob_t found{};
    const int rc = ::glob(full.c_str(), 0, nullptr, &found);
    if (rc == GLOB_NOMATCH) {
      file_warning("collector_files: " + config::quoted(pattern) + " matches no file");
    } else if (rc != 0) {
      file_error("collector_files: cannot read " + config::quoted(pattern));
    } else {
      for (std::size_t i = 0; i < found.gl_pathc; ++i) {
        const std::string path = found.gl_pathv[i];
        if (!seen.insert(path).second) continue;
        // Only regular files of a sane size: a glob must not hang the load
        // on a device or a pipe, nor read a huge file into memory.
        std::error_code ec;
        const auto status = std::filesystem::status(path, ec);
        if (std::filesystem::is_directory(status)) continue;
        if (ec || !std::filesystem::is_regular_file(status)) {
          file_error("collector_files: " + config::quoted(path) + " is not a regular file");
        } else if (std::filesystem::file_size(path, ec) > kMaxCollectorFileBytes || ec) {
          file_error("collector_files: " + config::quoted(path) + " is larger than 4MiB");
        } else {
          parse_collector_file(path);
        }
      }
    }
    ::globfree(&found);
  }
}

void ConfigParser::parse_collector_file(const std::string& path) {
  if (path.ends_with(".yaml") || path.ends_with(".yml")) return parse_queries_yaml_file(path);
  ConfigParser included(path, names_);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    included.file_error("cannot read the collector file");
  } else if (auto problem = check_toml_text(text.str())) {
    toml::source_region at;
    at.begin = {static_cast<toml::source_index>(problem->line),
                static_cast<toml::source_index>(problem->column)};
    included.error(at, "", "TOML syntax error: " + problem->message);
  } else {
    try {
      const toml::table root = toml::parse(text.str(), path);
      included.dispatch(Field{"", root, root.source()},
                        {{"collector", [&](const Field& f) { included.parse_collectors(f); }}});
    } catch (const toml::parse_error& failure) {
      included.error(failure.source(), "",
                     "TOML syntax error: " + std::string(failure.description()));
    } catch (const std::exception& failure) {
      included.file_error(std::string("cannot parse: ") + failure.what());
    }
  }
  for (auto& c : included.config_.collectors) config_.collectors.push_back(std::move(c));
  adopt(included.take_errors(), included.take_warnings());
}

// postgres_exporter's queries.yaml, read as it is (config/queries_yaml.*).
void ConfigParser::parse_queries_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    adopt({ConfigError{path, 0, 0, "", "cannot read the queries file"}}, {});
    return;
  }
  auto yaml = parse_queries_yaml(text.str(), path);
  std::vector<std::string> warnings;
  for (const auto& n : yaml.notes) warnings.push_back(n.to_string());
  adopt(std::move(yaml.errors), std::move(warnings));
  for (auto& c : yaml.collectors) config_.collectors.push_back(std::move(c));
}

bool ConfigParser::probe_off_everywhere(const CollectorConfig& collector,
                                        std::string_view probe) const {
  const auto off = [&](const std::map<std::string, ProbeSettings>& probes) -> std::optional<bool> {
    auto it = probes.find(std::string(probe));
    if (it == probes.end() || !it->second.enabled) return std::nullopt;
    return !*it->second.enabled;
  };
  const auto global = off(config_.probes);
  bool any = false;
  for (const auto& target : config_.targets) {
    if (!collector.targets.empty() && std::find(collector.targets.begin(), collector.targets.end(),
                                                target.name) == collector.targets.end())
      continue;
    any = true;
    const auto own = off(target.probes);
    if (!own.value_or(global.value_or(false))) return false;
  }
  return any;
}

void ConfigParser::resolve_collectors() {
  // Metric names: unique across collectors and not a built-in one.
  std::map<std::string, std::string> metric_owner;  // metric -> "collector NAME (FILE:LINE)"
  std::map<std::string, std::string> collector_at;
  const auto collector_error = [&](const CollectorConfig& c, const std::string& message) {
    const auto colon = c.defined_at.rfind(':');
    ConfigError e;
    e.file = c.defined_at.substr(0, colon);
    e.line = std::stoll(c.defined_at.substr(colon + 1));
    e.column = 1;
    e.key = "collector";
    e.message = "collector " + config::quoted(c.name) + ": " + message;
    adopt({std::move(e)}, {});
  };
  for (const auto& c : config_.collectors) {
    if (c.name.empty()) continue;
    if (auto [it, inserted] = collector_at.emplace(c.name, c.defined_at); !inserted) {
      collector_error(c, "defined twice (first at " + it->second + ")");
      continue;
    }
    for (const auto& column : c.columns) {
      if (column.usage != ColumnUsage::gauge && column.usage != ColumnUsage::counter) continue;
      const std::string metric = c.metric_name(column);
      if (const auto* section = names_.builtin_metric(metric)) {
        // Allowed only where the probe that makes it is switched off on
        // every target the collector runs on (taking over a name, e.g.
        // pg_stat_user_tables_* from a queries.yaml, with vacuum off).
        if (!names_.is_probe(*section) || !probe_off_everywhere(c, *section)) {
          collector_error(c, "metric " + metric + " is one of pgvigil's built-in metrics" +
                                 (names_.is_probe(*section)
                                      ? " (probe " + std::string(*section) +
                                            "; switch it off where this collector runs to take "
                                            "the name over)"
                                      : std::string()));
          continue;
        }
      }
      const std::string owner = "collector " + config::quoted(c.name) + " (" + c.defined_at + ")";
      if (auto [it, inserted] = metric_owner.emplace(metric, owner); !inserted)
        collector_error(c, "metric " + metric + " is also produced by " + it->second);
    }
  }
  // Targets: the names a collector lists exist; labels do not clash.
  std::set<std::string> target_names;
  for (const auto& t : config_.targets) target_names.insert(t.name);
  for (const auto& c : config_.collectors) {
    for (const auto& name : c.targets)
      if (!target_names.count(name)) collector_error(c, "unknown target " + config::quoted(name));
  }
  for (auto& target : config_.targets) {
    std::set<std::string> check_names;
    for (const auto& check : target.checks) check_names.insert(check.name);
    for (const auto& c : config_.collectors) {
      if (c.name.empty()) continue;
      if (!c.targets.empty() &&
          std::find(c.targets.begin(), c.targets.end(), target.name) == c.targets.end())
        continue;
      for (const auto& column : c.columns) {
        if (column.usage == ColumnUsage::label && target.labels.count(column.name))
          collector_error(c, "label column " + config::quoted(column.name) +
                                 " clashes with target " + config::quoted(target.name) +
                                 "'s label of that name");
        if (column.has_expect && check_names.count(c.metric_name(column)))
          collector_error(c, "the expectation on " + c.metric_name(column) +
                                 " has the name of a [[target.check]] of target " +
                                 config::quoted(target.name));
      }
      target.collectors.push_back(c);
    }
  }
}

}  // namespace pgvigil::config
