#include "config/sd_format.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "config/text.hpp"
#include "config/toml_walker.hpp"  // quoted

namespace pgvigil::config {
namespace {

bool valid_label_name(std::string_view name) {
  return !name.empty() && (is_ascii_alpha(name[0]) || name[0] == '_') &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_'; });
}

// 1-based line and column of a byte offset (nlohmann reports offsets).
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

class GroupReader {
 public:
  GroupReader(const std::string& origin, SdParseResult& out) : origin_(origin), out_(out) {}

  void read(const YAML::Node& root) {
    if (!root || root.IsNull()) return;
    if (!root.IsSequence()) {
      fail(root, "expected a list of target groups ({targets: [...], labels: {...}})");
      return;
    }
    std::size_t index = 0;
    for (const auto& group : root) read_group(group, index++);
  }

 private:
  std::string where(const YAML::Node& node) const {
    const auto mark = node.Mark();
    return origin_ + ":" + std::to_string(mark.line < 0 ? 0 : mark.line + 1) + ":" +
           std::to_string(mark.column < 0 ? 0 : mark.column + 1);
  }
  void fail(const YAML::Node& node, const std::string& message) {
    out_.errors.push_back(where(node) + ": " + message);
  }

  void read_group(const YAML::Node& group, std::size_t index) {
    const std::string name = "group " + std::to_string(index + 1);
    if (!group.IsMap()) {
      fail(group, name + ": expected a map with targets and labels");
      return;
    }
    std::map<std::string, std::string> labels;
    YAML::Node targets;
    for (const auto& member : group) {
      const std::string key = member.first.IsScalar() ? member.first.Scalar() : std::string();
      if (key == "targets") {
        targets = member.second;
      } else if (key == "labels") {
        read_labels(member.second, name, labels);
      } else {
        fail(member.first,
             name + ": unknown key " + config::quoted(key) + " (expected targets, labels)");
      }
    }
    if (!targets) {
      fail(group, name + ": missing targets");
      return;
    }
    if (targets.IsNull()) return;  // an empty group is allowed
    if (!targets.IsSequence()) {
      fail(targets, name + ": targets must be a list of \"host:port\" strings");
      return;
    }
    for (const auto& target : targets) {
      if (!target.IsScalar() || target.Scalar().empty()) {
        fail(target, name + ": each target must be a non-empty \"host:port\" string");
        continue;
      }
      SdEntry entry;
      entry.address = target.Scalar();
      entry.labels = labels;
      const auto mark = target.Mark();
      entry.origin = origin_ + ":" + std::to_string(mark.line < 0 ? 0 : mark.line + 1);
      out_.entries.push_back(std::move(entry));
    }
  }

  void read_labels(const YAML::Node& node, const std::string& group,
                   std::map<std::string, std::string>& labels) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      fail(node, group + ": labels must be a map of label names to strings");
      return;
    }
    for (const auto& member : node) {
      const std::string key = member.first.IsScalar() ? member.first.Scalar() : std::string();
      if (!valid_label_name(key)) {
        fail(member.first, group + ": invalid label name " + config::quoted(key) +
                               " (use [a-zA-Z_][a-zA-Z0-9_]*)");
        continue;
      }
      if (!member.second.IsScalar()) {
        fail(member.second, group + ": label " + key + " must be a string");
        continue;
      }
      labels[key] = member.second.Scalar();
    }
  }

  const std::string& origin_;
  SdParseResult& out_;
};

}  // namespace

bool sd_syntax_for_path(std::string_view path, SdSyntax& syntax) {
  if (path.ends_with(".json")) {
    syntax = SdSyntax::json;
    return true;
  }
  if (path.ends_with(".yml") || path.ends_with(".yaml")) {
    syntax = SdSyntax::yaml;
    return true;
  }
  return false;
}

SdParseResult parse_sd_text(std::string_view text, SdSyntax syntax, const std::string& origin) {
  SdParseResult out;
  if (syntax == SdSyntax::json) {
    // JSON is checked strictly first (YAML would accept more); the structure
    // is then read through yaml-cpp, whose nodes know their line.
    try {
      [[maybe_unused]] const auto checked = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      const auto [line, column] = line_column(text, e.byte > 0 ? e.byte - 1 : 0);
      std::string message = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
      if (const auto colon = message.find(": "); colon != std::string::npos)
        message = message.substr(colon + 2);
      out.errors.push_back(origin + ":" + std::to_string(line) + ":" + std::to_string(column) +
                           ": JSON syntax error: " + message);
      return out;
    }
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    out.errors.push_back(origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                         std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
    return out;
  }
  try {
    GroupReader(origin, out).read(root);
  } catch (const YAML::Exception& e) {
    out.errors.push_back(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!out.errors.empty()) out.entries.clear();
  return out;
}

}  // namespace pgvigil::config
