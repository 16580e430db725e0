#include "probes/neo4j.hpp"

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "config/text.hpp"

namespace pgvigil::neo4j {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 10> kReasonNames{
    "none",        "connecting", "refused",  "timeout",     "dns",
    "auth_failed", "tls",        "protocol", "unavailable", "other",
};

// Text from the server as it may reach a log line, a label or evidence: one
// line, short, no control characters (a hostile body cannot flood or forge
// log lines).
std::string excerpt(std::string_view text, std::size_t max_bytes = 200) {
  std::string out = config::first_line(text, max_bytes);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

// nlohmann's non-throwing parse: a discarded value on any syntax error.
std::optional<json> parse_json(std::string_view body) {
  json value = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

std::string not_json(std::string_view body) {
  return "reply is not JSON: \"" + excerpt(body, 60) + "\"";
}

}  // namespace

std::string_view to_string(DownReason reason) noexcept {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::span<const std::string_view> down_reason_names() noexcept {
  return kReasonNames;
}

DownReason classify_status_code(std::string_view code) {
  // Neo4j status codes: Neo.<classification>.<category>.<title>.
  if (config::istarts_with(code, "Neo.ClientError.Security.")) return DownReason::auth_failed;
  if (code == "Neo.TransientError.Database.DatabaseUnavailable" ||
      code == "Neo.TransientError.General.DatabaseUnavailable")
    return DownReason::unavailable;
  return DownReason::other;
}

DiscoveryResult parse_discovery(std::string_view body) {
  DiscoveryResult result;
  const auto doc = parse_json(body);
  if (!doc) {
    result.error = not_json(body);
    return result;
  }
  if (!doc->is_object()) {
    result.error = "discovery document is not a JSON object";
    return result;
  }
  const auto version = doc->find("neo4j_version");
  if (version == doc->end() || !version->is_string() ||
      version->get_ref<const std::string&>().empty()) {
    result.error = "discovery document has no neo4j_version string";
    return result;
  }
  Discovery discovery;
  // A label value: short enough for any dashboard, whatever the server says.
  discovery.version = excerpt(version->get_ref<const std::string&>(), 64);
  if (const auto edition = doc->find("neo4j_edition"); edition != doc->end()) {
    if (!edition->is_string()) {
      result.error = "discovery document's neo4j_edition is not a string";
      return result;
    }
    discovery.edition = excerpt(edition->get_ref<const std::string&>(), 32);
  }
  result.discovery = std::move(discovery);
  return result;
}

std::string_view return_one_request() noexcept {
  return R"({"statements":[{"statement":"RETURN 1"}]})";
}

TxResult parse_tx_reply(unsigned http_status, std::string_view body) {
  TxResult result;
  const auto fail = [&](DownReason reason, std::string error) {
    result.reason = reason;
    result.error = std::move(error);
    return result;
  };
  const auto doc = parse_json(body);
  // The server's own errors first: a 401 carries Neo.ClientError.Security.Unauthorized.
  if (doc && doc->is_object()) {
    const auto errors = doc->find("errors");
    if (errors != doc->end() && errors->is_array() && !errors->empty()) {
      const auto& first = errors->front();
      const auto code = first.is_object() ? first.find("code") : first.end();
      const auto message = first.is_object() ? first.find("message") : first.end();
      if (code != first.end() && code->is_string()) {
        result.code = excerpt(code->get_ref<const std::string&>(), 100);
        std::string text = result.code;
        if (message != first.end() && message->is_string())
          text += ": " + excerpt(message->get_ref<const std::string&>());
        DownReason reason = classify_status_code(result.code);
        if (reason == DownReason::other && (http_status == 401 || http_status == 403))
          reason = DownReason::auth_failed;
        return fail(reason, std::move(text));
      }
      if (http_status / 100 == 2) return fail(DownReason::protocol, "errors[0] has no code string");
    }
  }
  if (http_status == 401 || http_status == 403)
    return fail(DownReason::auth_failed, "HTTP " + std::to_string(http_status));
  if (http_status == 503) return fail(DownReason::unavailable, "HTTP 503");
  if (http_status / 100 != 2) return fail(DownReason::other, "HTTP " + std::to_string(http_status));
  if (!doc) return fail(DownReason::protocol, not_json(body));
  if (!doc->is_object())
    return fail(DownReason::protocol, "transaction reply is not a JSON object");
  const auto errors = doc->find("errors");
  if (errors == doc->end() || !errors->is_array())
    return fail(DownReason::protocol, "transaction reply has no errors array");
  const auto results = doc->find("results");
  if (results == doc->end() || !results->is_array() || results->size() != 1)
    return fail(DownReason::protocol, "transaction reply does not hold one result");
  // results[0].data[0].row[0] == 1: the database ran the statement.
  const auto& first = results->front();
  const json* value = nullptr;
  if (first.is_object()) {
    const auto data = first.find("data");
    if (data != first.end() && data->is_array() && data->size() == 1 && data->front().is_object()) {
      const auto row = data->front().find("row");
      if (row != data->front().end() && row->is_array() && row->size() == 1) value = &row->front();
    }
  }
  if (value == nullptr)
    return fail(DownReason::protocol, "transaction reply has no results[0].data[0].row[0]");
  if (!value->is_number_integer() || value->get<long long>() != 1)
    return fail(DownReason::protocol,
                "RETURN 1 returned something else: " + excerpt(value->dump(), 40));
  return result;
}

ClusterFlag parse_cluster_flag(unsigned http_status, std::string_view body) {
  const auto text = config::trim(body);
  if (http_status == 200 && text == "true") return ClusterFlag::yes;
  if (http_status == 404) return text == "false" ? ClusterFlag::no : ClusterFlag::absent;
  return ClusterFlag::bad;
}

ClusterStatusResult parse_cluster_status(std::string_view body) {
  ClusterStatusResult result;
  const auto doc = parse_json(body);
  if (!doc) {
    result.error = not_json(body);
    return result;
  }
  if (!doc->is_array()) {
    result.error = "cluster status is not a JSON array";
    return result;
  }
  std::vector<ClusterDatabase> databases;
  std::size_t index = 0;
  for (const auto& entry : *doc) {
    const std::string at = "cluster status[" + std::to_string(index++) + "]";
    if (!entry.is_object()) {
      result.error = at + " is not an object";
      return result;
    }
    const auto name = entry.find("databaseName");
    const auto status = entry.find("databaseStatus");
    if (name == entry.end() || !name->is_string() || status == entry.end() ||
        !status->is_object()) {
      result.error = at + " lacks databaseName or databaseStatus";
      return result;
    }
    ClusterDatabase db;
    db.name = excerpt(name->get_ref<const std::string&>(), 64);
    const auto members = status->find("votingMembers");
    if (members != status->end()) {
      if (!members->is_array()) {
        result.error = at + ".databaseStatus.votingMembers is not an array";
        return result;
      }
      db.voting_members = members->size();
    }
    const auto flag = [&](std::string_view key, bool& out) {
      const auto it = status->find(key);
      if (it == status->end() || it->is_null()) return true;
      if (!it->is_boolean()) {
        result.error = at + ".databaseStatus." + std::string(key) + " is not a boolean";
        return false;
      }
      out = it->get<bool>();
      return true;
    };
    if (!flag("healthy", db.healthy) || !flag("core", db.core)) return result;
    const auto leader = status->find("leader");
    if (leader != status->end() && !leader->is_null()) {
      if (!leader->is_string()) {
        result.error = at + ".databaseStatus.leader is not a string";
        return result;
      }
      db.leader_known = !leader->get_ref<const std::string&>().empty();
    }
    const auto since = status->find("millisSinceLastLeaderMessage");
    if (since != status->end() && !since->is_null()) {
      if (!since->is_number() || !std::isfinite(since->get<double>()) || since->get<double>() < 0) {
        result.error = at + ".databaseStatus.millisSinceLastLeaderMessage is not a finite number";
        return result;
      }
      db.millis_since_leader_message = since->get<double>();
    }
    databases.push_back(std::move(db));
  }
  result.databases = std::move(databases);
  return result;
}

void collect_round(const Round& round, SampleSink& out) {
  out.gauge("neo4j_version_info", "Always 1; the server's version and edition as labels.",
            {{"version", round.discovery.version}, {"edition", round.discovery.edition}}, 1);
  const Labels db{{"database", round.database}};
  if (round.available)
    out.gauge("neo4j_database_available", "1 when the database serves queries on this server.", db,
              *round.available ? 1 : 0);
  if (round.writable)
    out.gauge("neo4j_database_writable",
              "1 when this server accepts writes for the database (Enterprise).", db,
              *round.writable ? 1 : 0);
  for (const auto& member : round.cluster) {
    const Labels labels{{"database", member.name}};
    out.gauge("neo4j_cluster_voting_members",
              "Voting members of the database's Raft group, as this server sees it.", labels,
              static_cast<double>(member.voting_members));
    out.gauge("neo4j_cluster_leader_known",
              "1 when this server knows a leader for the database (the writable member).", labels,
              member.leader_known ? 1 : 0);
    out.gauge("neo4j_cluster_member_healthy",
              "1 when this server's copy of the database is healthy.", labels,
              member.healthy ? 1 : 0);
    if (member.millis_since_leader_message)
      out.gauge("neo4j_cluster_leader_message_age_seconds",
                "Time since this server last heard from the database's leader.", labels,
                *member.millis_since_leader_message / 1000.0);
  }
}

void Liveness::emit(SampleSink& out) const {
  out.gauge("neo4j_up",
            "1 when the last round (discovery, RETURN 1 on the database) succeeded within its "
            "deadlines.",
            {}, up ? 1 : 0);
  out.state_set("neo4j_connection_failure",
                "Why the Neo4j target cannot be used; none when it can.", {}, "reason",
                down_reason_names(), to_string(reason));
  for (const auto& [failed, count] : failures) {
    out.counter("neo4j_connection_failures_total", "Failed rounds by reason.",
                {{"reason", std::string(to_string(failed))}}, static_cast<double>(count));
  }
  if (query_rtt_seconds)
    out.gauge("neo4j_query_rtt_seconds", "Round trip of the last RETURN 1 transaction.", {},
              *query_rtt_seconds);
}

}  // namespace pgvigil::neo4j
