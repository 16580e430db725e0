#include "probes/patroni.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

namespace pgvigil {

namespace {

using Json = nlohmann::json;

// nlohmann's parser recurses once per nesting level: a hostile or broken reply
// of a megabyte of '[' would overflow the stack. /cluster nests four deep.
constexpr int kMaxDepth = 32;

bool nested_too_deep(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// The roles and states a member usually reports. A value outside these lists
// still gets its series (see with_current), so nothing is hidden.
constexpr std::array<std::string_view, 5> kRoles{"leader", "standby_leader", "sync_standby",
                                                 "quorum_standby", "replica"};
constexpr std::array<std::string_view, 11> kStates{
    "running",      "streaming",      "in archive recovery", "starting",
    "stopping",     "stopped",        "restarting",          "crashed",
    "start failed", "restart failed", "creating replica"};

template <std::size_t N>
std::vector<std::string_view> with_current(const std::array<std::string_view, N>& known,
                                           std::string_view current) {
  std::vector<std::string_view> states(known.begin(), known.end());
  if (std::find(states.begin(), states.end(), current) == states.end()) states.push_back(current);
  return states;
}

bool holds_leader_key(std::string_view role) {
  // "master" and "primary" are what older and newer releases call the leader
  // in some replies; /cluster of 3.0 says "leader".
  return role == "leader" || role == "standby_leader" || role == "master" || role == "primary";
}

class Parser {
 public:
  explicit Parser(std::string* error) : error_(error) {}

  std::optional<PatroniCluster> parse(std::string_view body) {
    if (body.empty()) return fail("empty reply");
    if (nested_too_deep(body))
      return fail("JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
    Json doc;
    try {
      doc = Json::parse(body.begin(), body.end());
    } catch (const Json::exception& e) {
      return fail(std::string("not valid JSON: ") + strip_prefix(e.what()));
    }
    if (!doc.is_object()) return fail("the reply is not a JSON object");

    PatroniCluster cluster;
    if (auto it = doc.find("scope"); it != doc.end()) {
      if (!it->is_string()) return fail("scope is not a string");
      cluster.scope = it->get<std::string>();
    }
    if (auto it = doc.find("pause"); it != doc.end()) {
      if (!it->is_boolean()) return fail("pause is not a boolean");
      cluster.paused = it->get<bool>();
    }
    auto members = doc.find("members");
    if (members == doc.end()) return fail("members is missing");
    if (!members->is_array()) return fail("members is not an array");
    for (std::size_t i = 0; i < members->size(); ++i) {
      auto member = parse_member((*members)[i], "members[" + std::to_string(i) + "]");
      if (!member) return std::nullopt;
      for (std::size_t j = 0; j < cluster.members.size(); ++j)
        if (cluster.members[j].name == member->name)
          return fail("members[" + std::to_string(i) + "].name repeats members[" +
                      std::to_string(j) + "].name");
      cluster.members.push_back(std::move(*member));
    }
    return cluster;
  }

 private:
  std::optional<PatroniMember> parse_member(const Json& node, const std::string& where) {
    if (!node.is_object()) return fail(where + " is not an object");
    PatroniMember member;
    if (!required_string(node, "name", where, member.name)) return std::nullopt;
    if (member.name.empty()) return fail(where + ".name is empty");
    if (!required_string(node, "role", where, member.role)) return std::nullopt;
    if (auto it = node.find("state"); it != node.end()) {
      if (!it->is_string()) return fail(where + ".state is not a string");
      member.state = it->get<std::string>();
    }
    if (member.state.empty()) member.state = "unknown";
    if (auto it = node.find("host"); it != node.end()) {
      if (!it->is_string()) return fail(where + ".host is not a string");
      member.host = it->get<std::string>();
    }
    if (!optional_integer(node, "port", where, member.port)) return std::nullopt;
    if (!optional_integer(node, "timeline", where, member.timeline)) return std::nullopt;
    if (auto it = node.find("lag"); it != node.end()) {
      // A number of bytes behind the leader, or "unknown" when the member has
      // not reported a WAL position (e.g. its PostgreSQL is stopped).
      if (it->is_number()) {
        const auto lag = it->get<double>();
        if (std::isfinite(lag) && lag >= 0) member.lag_bytes = lag;
      } else if (!it->is_string()) {
        return fail(where + ".lag is neither a number nor a string");
      }
    }
    if (auto it = node.find("pending_restart"); it != node.end()) {
      if (!it->is_boolean()) return fail(where + ".pending_restart is not a boolean");
      member.pending_restart = it->get<bool>();
    }
    if (auto it = node.find("tags"); it != node.end()) {
      if (!it->is_object()) return fail(where + ".tags is not an object");
      if (auto tag = it->find("nofailover"); tag != it->end() && tag->is_boolean())
        member.nofailover = tag->get<bool>();
    }
    return member;
  }

  bool required_string(const Json& node, const char* key, const std::string& where,
                       std::string& out) {
    auto it = node.find(key);
    if (it == node.end()) return failed(where + "." + key + " is missing");
    if (!it->is_string()) return failed(where + "." + key + " is not a string");
    out = it->get<std::string>();
    return true;
  }

  bool optional_integer(const Json& node, const char* key, const std::string& where,
                        std::optional<long long>& out) {
    auto it = node.find(key);
    if (it == node.end() || it->is_null()) return true;
    if (!it->is_number_integer()) return failed(where + "." + key + " is not an integer");
    out = it->get<long long>();
    return true;
  }

  // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at ..."
  static std::string strip_prefix(const char* what) {
    std::string_view text(what);
    if (text.starts_with('[')) {
      const auto close = text.find("] ");
      if (close != std::string_view::npos) text.remove_prefix(close + 2);
    }
    return std::string(text);
  }

  std::nullopt_t fail(const std::string& why) {
    if (error_ != nullptr) *error_ = "patroni /cluster: " + why;
    return std::nullopt;
  }

  bool failed(const std::string& why) {
    fail(why);
    return false;
  }

  std::string* error_;
};

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f", value);
  return buffer;
}

}  // namespace

const PatroniMember* PatroniCluster::leader() const noexcept {
  for (const auto& member : members)
    if (holds_leader_key(member.role)) return &member;
  return nullptr;
}

std::optional<PatroniCluster> parse_patroni_cluster(std::string_view body, std::string* error) {
  try {
    return Parser(error).parse(body);
  } catch (const std::exception& e) {  // allocation failure and the like
    if (error != nullptr) *error = std::string("patroni /cluster: ") + e.what();
    return std::nullopt;
  }
}

std::string patroni_member_table(const PatroniCluster& cluster) {
  std::string head = "Patroni cluster";
  if (!cluster.scope.empty()) head += " " + cluster.scope;
  const auto* leader = cluster.leader();
  head += leader != nullptr ? ", leader " + leader->name : ", NO LEADER (cluster unlocked)";
  if (cluster.paused) head += ", maintenance mode (paused)";
  head += "\n";

  std::vector<std::array<std::string, 7>> rows;
  rows.push_back({"member", "host", "role", "state", "TL", "lag bytes", "notes"});
  for (const auto& m : cluster.members) {
    std::string host = m.host;
    if (m.port) host += ":" + std::to_string(*m.port);
    std::string notes;
    if (m.pending_restart) notes += "pending restart";
    if (m.nofailover) notes += std::string(notes.empty() ? "" : ", ") + "nofailover";
    rows.push_back({m.name, host.empty() ? "-" : host, m.role, m.state,
                    m.timeline ? std::to_string(*m.timeline) : "-",
                    m.lag_bytes ? format_number(*m.lag_bytes) : "-", notes});
  }
  std::array<std::size_t, 7> widths{};
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  std::string text = head;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) line += pad(row[c], widths[c] + 2);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  if (cluster.members.empty()) text += "(no members registered in the DCS)\n";
  return text;
}

void PatroniProbe::emit_common(SampleSink& out, bool up) const {
  out.gauge("patroni_up",
            "1 when the Patroni REST endpoint answered GET /cluster with a usable reply", {},
            up ? 1.0 : 0.0);
  out.counter("patroni_leader_changes_total",
              "Times the member holding the leader key changed, as seen by pgvigil", {},
              leader_changes_);
}

bool PatroniProbe::collect_reply(std::string_view body, SampleSink& out) {
  std::string error;
  auto cluster = parse_patroni_cluster(body, &error);
  if (!cluster) {
    collect_failure(error, out);
    return false;
  }
  last_error_.clear();
  const auto* leader = cluster->leader();
  if (leader != nullptr) {
    if (!last_leader_.empty() && last_leader_ != leader->name) ++leader_changes_;
    last_leader_ = leader->name;
  }
  emit_common(out, true);

  Labels scope;
  if (!cluster->scope.empty()) scope.emplace_back("scope", cluster->scope);
  out.gauge("patroni_cluster_unlocked",
            "1 when no member holds the leader key (no leader: nobody may run as primary)", scope,
            leader == nullptr ? 1.0 : 0.0);
  out.gauge("patroni_is_paused", "1 when the cluster is in maintenance mode (patronictl pause)",
            scope, cluster->paused ? 1.0 : 0.0);
  out.gauge("patroni_cluster_members", "Members registered in the DCS", scope,
            static_cast<double>(cluster->members.size()));
  if (leader != nullptr) {
    Labels labels = scope;
    labels.emplace_back("member", leader->name);
    out.gauge("patroni_leader_info", "Always 1: the member holding the leader key", labels, 1.0);
  }

  for (const auto& m : cluster->members) {
    Labels labels = scope;
    labels.emplace_back("member", m.name);
    const auto roles = with_current(kRoles, m.role);
    out.state_set("patroni_member_role", "Role of each member as Patroni reports it", labels,
                  "role", roles, m.role);
    const auto states = with_current(kStates, m.state);
    out.state_set("patroni_member_state", "State of each member's PostgreSQL as Patroni reports it",
                  labels, "state", states, m.state);
    if (m.timeline)
      out.gauge("patroni_member_timeline", "PostgreSQL timeline of each member", labels,
                static_cast<double>(*m.timeline));
    if (m.lag_bytes)
      out.gauge("patroni_member_lag_bytes",
                "Bytes of WAL a replica is behind the leader, as Patroni computes it", labels,
                *m.lag_bytes);
    out.gauge("patroni_member_pending_restart",
              "1 when a member needs a restart to apply changed settings", labels,
              m.pending_restart ? 1.0 : 0.0);
    out.gauge("patroni_member_nofailover",
              "1 when a member is tagged nofailover (never takes the leader key)", labels,
              m.nofailover ? 1.0 : 0.0);
  }
  out.evidence(kPatroniEvidenceKey, patroni_member_table(*cluster));
  return true;
}

void PatroniProbe::collect_failure(std::string_view why, SampleSink& out) {
  last_error_ = std::string(why);
  emit_common(out, false);
  out.evidence(kPatroniEvidenceKey, "Patroni REST endpoint not usable: " + last_error_ + "\n");
}

}  // namespace pgvigil
