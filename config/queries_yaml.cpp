#include "config/queries_yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "config/text.hpp"
#include "config/toml_walker.hpp"

namespace pgvigil::config {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || is_ascii_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_'; });
}

// "10.2.0" -> 100002, "9.6.3" -> 90603; -1 when it is not a version.
int version_num(std::string_view text) {
  int parts[3] = {0, 0, 0};
  std::size_t count = 0;
  while (!text.empty() && count < 3) {
    const auto dot = text.find('.');
    const auto part = text.substr(0, dot);
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), parts[count]);
    if (ec != std::errc{} || end != part.data() + part.size() || part.empty() || parts[count] < 0 ||
        parts[count] > 99)
      return -1;
    ++count;
    if (dot == std::string_view::npos) {
      text = {};
    } else {
      text.remove_prefix(dot + 1);
      if (text.empty()) return -1;
    }
  }
  if (count == 0 || !text.empty()) return -1;
  return parts[0] >= 10 ? parts[0] * 10000 + parts[1]
                        : parts[0] * 10000 + parts[1] * 100 + parts[2];
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// SQL reads best as a multi-line literal string, which takes no escapes.
std::string toml_sql(std::string_view sql) {
  const bool literal_ok = sql.find("'''") == std::string_view::npos && !sql.ends_with("'") &&
                          std::none_of(sql.begin(), sql.end(), [](char c) {
                            return static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t';
                          });
  if (!literal_ok) return toml_string(sql);
  return "'''\n" + std::string(sql) + "'''";
}

const char* usage_name(ColumnUsage usage) {
  switch (usage) {
    case ColumnUsage::label:
      return "label";
    case ColumnUsage::gauge:
      return "gauge";
    case ColumnUsage::counter:
      return "counter";
    case ColumnUsage::discard:
      return "discard";
  }
  return "discard";
}

}  // namespace

bool parse_runonserver(std::string_view range, int& min_version, int& max_version) {
  min_version = 0;
  max_version = 0;
  range = trim(range);
  if (range.empty()) return false;
  while (!range.empty()) {
    const auto space = range.find_first_of(" \t");
    std::string_view term = range.substr(0, space);
    range = space == std::string_view::npos ? std::string_view{} : trim(range.substr(space));
    std::string_view op;
    for (std::string_view candidate : {">=", "<=", ">", "<", "=="}) {
      if (term.starts_with(candidate)) {
        op = candidate;
        break;
      }
    }
    if (op.empty() && !term.empty() && term.front() == '=') op = "=";
    const int v = version_num(trim(term.substr(op.size())));
    if (v < 0) return false;
    if (op == ">=") {
      min_version = std::max(min_version, v);
    } else if (op == ">") {
      min_version = std::max(min_version, v + 1);
    } else if (op == "<") {
      if (v == 0) return false;
      max_version = max_version == 0 ? v - 1 : std::min(max_version, v - 1);
    } else if (op == "<=") {
      max_version = max_version == 0 ? v : std::min(max_version, v);
    } else {  // "=", "==" or none: that version, any patch level
      min_version = std::max(min_version, v);
      const int upper = v >= 100000 ? v + 9999 - (v % 10000) : v + 99 - (v % 100);
      max_version = max_version == 0 ? upper : std::min(max_version, upper);
    }
  }
  return max_version == 0 || max_version >= min_version;
}

QueriesYaml parse_queries_yaml(std::string_view text, const std::string& source_name) {
  QueriesYaml out;
  const auto at = [&](const YAML::Node& node) {
    const auto mark = node.Mark();
    return std::pair<std::int64_t, std::int64_t>(mark.line < 0 ? 0 : mark.line + 1,
                                                 mark.column < 0 ? 0 : mark.column + 1);
  };
  const auto error = [&](const YAML::Node& node, std::string key, std::string message) {
    const auto [line, column] = at(node);
    out.errors.push_back({source_name, line, column, std::move(key), std::move(message)});
  };
  const auto note = [&](const YAML::Node& node, std::string key, std::string message) {
    const auto [line, column] = at(node);
    out.notes.push_back({source_name, line, column, std::move(key), std::move(message)});
  };

  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    out.errors.push_back(
        {source_name, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg});
    return out;
  }
  if (root.IsNull()) return out;
  if (!root.IsMap()) {
    error(root, "", "expected a map of queries (namespace: {query, metrics})");
    return out;
  }
  try {
    for (const auto& entry : root) {
      const std::string ns = entry.first.Scalar();
      const YAML::Node& query = entry.second;
      const std::string q = "query " + quoted(ns);
      if (!valid_name(ns)) {
        error(entry.first, ns,
              q + ": the namespace prefixes metric names; use letters, digits and _");
        continue;
      }
      if (!query.IsMap()) {
        error(query, ns, q + ": expected a map with query and metrics");
        continue;
      }
      CollectorConfig collector;
      collector.name = ns;
      // postgres_exporter ran a query on every scrape unless cache_seconds
      // said otherwise: a common scrape interval is the closest default.
      collector.interval = Duration{15'000};
      collector.defined_at = source_name + ":" + std::to_string(at(entry.first).first);
      std::string sql;
      bool ok = true;
      for (const auto& field : query) {
        const std::string key = field.first.Scalar();
        const YAML::Node& value = field.second;
        if (key == "query") {
          if (!value.IsScalar()) {
            error(value, ns + ".query", q + ": query must be text");
            ok = false;
          } else {
            sql = value.Scalar();
          }
        } else if (key == "metrics") {
          if (!value.IsSequence()) {
            error(value, ns + ".metrics", q + ": metrics must be a list of {column: {usage}}");
            ok = false;
            continue;
          }
          for (const auto& item : value) {
            if (!item.IsMap() || item.size() != 1) {
              error(item, ns + ".metrics", q + ": each metrics entry is one {column: {usage}}");
              ok = false;
              continue;
            }
            const auto& only = *item.begin();
            CollectorColumn column;
            column.name = only.first.Scalar();
            const std::string where = ns + ".metrics." + column.name;
            if (!valid_name(column.name)) {
              error(only.first, where,
                    q + ": column " + quoted(column.name) + " cannot be a metric or label name");
              ok = false;
              continue;
            }
            const YAML::Node& spec = only.second;
            if (!spec.IsMap() || !spec["usage"]) {
              error(spec, where, q + ": column " + column.name + " needs a usage");
              ok = false;
              continue;
            }
            const std::string usage = spec["usage"].Scalar();
            if (usage == "LABEL") {
              column.usage = ColumnUsage::label;
            } else if (usage == "GAUGE") {
              column.usage = ColumnUsage::gauge;
            } else if (usage == "COUNTER") {
              column.usage = ColumnUsage::counter;
            } else if (usage == "DISCARD") {
              column.usage = ColumnUsage::discard;
            } else if (usage == "MAPPEDMETRIC" || usage == "DURATION") {
              note(spec["usage"], where,
                   q + ": column " + column.name + " has usage " + usage +
                       ", which pgvigil cannot map; the column is not read");
              column.usage = ColumnUsage::discard;
            } else {
              error(spec["usage"], where,
                    q + ": column " + column.name + ": unknown usage " + quoted(usage));
              ok = false;
              continue;
            }
            for (const auto& attribute : spec) {
              const std::string name = attribute.first.Scalar();
              if (name == "usage") continue;
              if (name == "description") {
                column.help = attribute.second.Scalar();
              } else if (name == "mapping") {
                note(attribute.first, where,
                     q + ": column " + column.name + ": mapping is not read (MAPPEDMETRIC)");
              } else {
                note(attribute.first, where,
                     q + ": column " + column.name + ": unknown key " + quoted(name) +
                         " is not read");
              }
            }
            collector.columns.push_back(std::move(column));
          }
        } else if (key == "master") {
          // pgvigil runs a collector in the target's own database unless it
          // names others, which is what master: true asked for.
          if (!value.IsScalar() || (value.Scalar() != "true" && value.Scalar() != "false")) {
            error(value, ns + ".master", q + ": master must be true or false");
            ok = false;
          }
        } else if (key == "cache_seconds") {
          std::int64_t seconds = 0;
          const std::string text_value = value.IsScalar() ? value.Scalar() : "";
          const auto [end, ec] =
              std::from_chars(text_value.data(), text_value.data() + text_value.size(), seconds);
          if (ec != std::errc{} || end != text_value.data() + text_value.size() || seconds < 1 ||
              seconds > 86400) {
            error(value, ns + ".cache_seconds", q + ": cache_seconds must be 1..86400");
            ok = false;
          } else {
            collector.interval = Duration{seconds * 1000};
          }
        } else if (key == "runonserver") {
          int min_version = 0;
          int max_version = 0;
          if (!value.IsScalar() || !parse_runonserver(value.Scalar(), min_version, max_version)) {
            error(value, ns + ".runonserver",
                  q + ": runonserver " + quoted(value.IsScalar() ? value.Scalar() : "") +
                      " cannot be mapped: use comparisons such as \">=10.0.0 <12.0.0\"");
            ok = false;
          } else {
            collector.branches.push_back({min_version, max_version, ""});
          }
        } else {
          error(field.first, ns + "." + key, q + ": unknown key " + quoted(key));
          ok = false;
        }
      }
      if (!query["query"]) {
        error(query, ns, q + ": needs query");
        ok = false;
      }
      if (std::none_of(collector.columns.begin(), collector.columns.end(), [](const auto& c) {
            return c.usage == ColumnUsage::gauge || c.usage == ColumnUsage::counter;
          })) {
        error(query, ns, q + ": no GAUGE or COUNTER column that pgvigil can map");
        ok = false;
      }
      if (!ok) continue;
      if (collector.branches.empty()) collector.branches.push_back({0, 0, ""});
      collector.branches[0].sql = sql;
      out.collectors.push_back(std::move(collector));
    }
  } catch (const YAML::Exception& e) {
    out.errors.push_back(
        {source_name, e.mark.line + 1, e.mark.column + 1, "", "unexpected structure: " + e.msg});
  }
  return out;
}

std::string render_collectors_toml(const std::vector<CollectorConfig>& collectors) {
  std::string out;
  for (const auto& c : collectors) {
    if (!out.empty()) out += "\n";
    out += "[[collector]]\nname = " + toml_string(c.name) + "\n";
    if (!c.databases.empty()) {
      out += "databases = [";
      for (std::size_t i = 0; i < c.databases.size(); ++i)
        out += (i ? ", " : "") + toml_string(c.databases[i]);
      out += "]\n";
    }
    const auto ms = c.interval.count();
    out += "interval = \"" +
           (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms") + "\"\n";
    const bool plain =
        c.branches.size() == 1 && c.branches[0].min_version == 0 && c.branches[0].max_version == 0;
    if (plain) out += "sql = " + toml_sql(c.branches[0].sql) + "\n";
    if (!plain) {
      for (const auto& branch : c.branches) {
        out += "[[collector.branch]]\n";
        if (branch.min_version != 0)
          out += "min_version = " + std::to_string(branch.min_version) + "\n";
        if (branch.max_version != 0)
          out += "max_version = " + std::to_string(branch.max_version) + "\n";
        out += "sql = " + toml_sql(branch.sql) + "\n";
      }
    }
    out += "[collector.columns]\n";
    for (const auto& column : c.columns) {
      out += column.name + " = ";
      if (column.help.empty()) {
        out += "\"" + std::string(usage_name(column.usage)) + "\"\n";
      } else {
        out += "{ usage = \"" + std::string(usage_name(column.usage)) +
               "\", help = " + toml_string(column.help) + " }\n";
      }
    }
  }
  return out;
}

}  // namespace pgvigil::config
