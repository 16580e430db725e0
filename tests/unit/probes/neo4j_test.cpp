// Neo4j HTTP API replies -> down reasons and samples, on the reply files of
// tests/data/neo4j/ (written from Neo4j's manuals: their README), and the
// bad-input cases: not JSON, wrong types, missing fields, huge values.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "probes/neo4j.hpp"

using namespace pgvigil;
using namespace pgvigil::neo4j;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/neo4j/" + name);
  REQUIRE_MESSAGE(in.good(), name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double value(const SampleSink& sink, std::string_view name, const Labels& labels = {}) {
  const auto* metric = sink.find(name, labels);
  REQUIRE_MESSAGE(metric != nullptr, name);
  return metric->gauge.value != 0 ? metric->gauge.value : metric->counter.value;
}

}  // namespace

TEST_CASE("neo4j discovery: version and edition of both editions") {
  const auto community = parse_discovery(fixture("discovery_community.json"));
  REQUIRE(community.discovery.has_value());
  CHECK(community.discovery->version == "5.26.0");
  CHECK(community.discovery->edition == "community");
  const auto enterprise = parse_discovery(fixture("discovery_enterprise.json"));
  REQUIRE(enterprise.discovery.has_value());
  CHECK(enterprise.discovery->edition == "enterprise");
  // A server that does not name its edition still has a version.
  const auto bare = parse_discovery(R"({"neo4j_version": "4.4.30"})");
  REQUIRE(bare.discovery.has_value());
  CHECK(bare.discovery->edition.empty());
}

TEST_CASE("neo4j discovery: bad documents say why") {
  const auto html = parse_discovery(fixture("not_json.txt"));
  CHECK_FALSE(html.discovery.has_value());
  CHECK(html.error.find("not JSON") != std::string::npos);
  CHECK(html.error.find('\n') == std::string::npos);
  CHECK_FALSE(parse_discovery("[1,2]").discovery.has_value());
  CHECK_FALSE(parse_discovery("").discovery.has_value());
  CHECK_FALSE(parse_discovery(R"({"neo4j_version": 5})").discovery.has_value());
  CHECK_FALSE(parse_discovery(R"({"neo4j_version": ""})").discovery.has_value());
  CHECK_FALSE(parse_discovery(R"({"bolt_direct": "bolt://x"})").discovery.has_value());
  const auto edition = parse_discovery(R"({"neo4j_version": "5.1", "neo4j_edition": ["x"]})");
  CHECK_FALSE(edition.discovery.has_value());
  CHECK(edition.error.find("neo4j_edition") != std::string::npos);
  // A huge version string becomes a short label, without control characters.
  const std::string huge = R"({"neo4j_version": ")" + std::string(100000, '9') +
                           R"(\n\u001b[31m", "neo4j_edition": "enterprise"})";
  const auto clipped = parse_discovery(huge);
  REQUIRE(clipped.discovery.has_value());
  CHECK(clipped.discovery->version.size() <= 64);
  const auto escape = parse_discovery(R"({"neo4j_version": "\u001b[31m5.26\nforged log line"})");
  REQUIRE(escape.discovery.has_value());
  CHECK(escape.discovery->version == "?[31m5.26");
  // Truncated JSON.
  CHECK_FALSE(parse_discovery(fixture("discovery_community.json").substr(0, 40)).discovery);
}

TEST_CASE("neo4j transaction: RETURN 1 answered, and each error's reason") {
  CHECK(parse_tx_reply(200, fixture("tx_return1.json")).reason == DownReason::none);

  const auto unauthorized = parse_tx_reply(401, fixture("tx_unauthorized.json"));
  CHECK(unauthorized.reason == DownReason::auth_failed);
  CHECK(unauthorized.code == "Neo.ClientError.Security.Unauthorized");
  CHECK(unauthorized.error.find("Invalid username or password") != std::string::npos);

  const auto unavailable = parse_tx_reply(200, fixture("tx_database_unavailable.json"));
  CHECK(unavailable.reason == DownReason::unavailable);
  CHECK(unavailable.code == "Neo.TransientError.Database.DatabaseUnavailable");

  const auto missing = parse_tx_reply(200, fixture("tx_database_not_found.json"));
  CHECK(missing.reason == DownReason::other);
  CHECK(missing.error.find("DatabaseNotFound") != std::string::npos);

  // Status codes without a Neo4j body.
  CHECK(parse_tx_reply(401, "").reason == DownReason::auth_failed);
  CHECK(parse_tx_reply(403, "forbidden").reason == DownReason::auth_failed);
  CHECK(parse_tx_reply(503, "").reason == DownReason::unavailable);
  CHECK(parse_tx_reply(500, "oops").reason == DownReason::other);
  // Forbidden with an error code Neo4j does not classify as security.
  CHECK(parse_tx_reply(403, R"({"errors":[{"code":"Neo.ClientError.General.X"}]})").reason ==
        DownReason::auth_failed);
}

TEST_CASE("neo4j transaction: replies of the wrong shape are protocol errors") {
  const auto protocol = [](std::string_view body) {
    return parse_tx_reply(200, body).reason == DownReason::protocol;
  };
  CHECK(protocol(fixture("not_json.txt")));
  CHECK(protocol("[]"));
  CHECK(protocol(R"({"results": []})"));                // no errors array
  CHECK(protocol(R"({"results": [], "errors": []})"));  // no result
  CHECK(protocol(R"({"results": {}, "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": []}], "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": [{"row": "1"}]}], "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": [{"row": ["1"]}]}], "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": [{"row": [2]}]}], "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": [{"row": [1e400]}]}], "errors": []})"));
  CHECK(protocol(R"({"results": [{"data": [{"row": [1]}]}], "errors": [{"message": "x"}]})"));
  // Truncated.
  CHECK(protocol(fixture("tx_return1.json").substr(0, 30)));
}

TEST_CASE("neo4j classify_status_code") {
  CHECK(classify_status_code("Neo.ClientError.Security.Unauthorized") == DownReason::auth_failed);
  CHECK(classify_status_code("Neo.ClientError.Security.AuthenticationRateLimit") ==
        DownReason::auth_failed);
  CHECK(classify_status_code("Neo.ClientError.Security.Forbidden") == DownReason::auth_failed);
  CHECK(classify_status_code("Neo.TransientError.Database.DatabaseUnavailable") ==
        DownReason::unavailable);
  CHECK(classify_status_code("Neo.DatabaseError.General.UnknownError") == DownReason::other);
  CHECK(classify_status_code("") == DownReason::other);
}

TEST_CASE("neo4j cluster endpoints: true, false, absent on Community, anything else") {
  CHECK(parse_cluster_flag(200, fixture("cluster_true.txt")) == ClusterFlag::yes);
  CHECK(parse_cluster_flag(404, fixture("cluster_false.txt")) == ClusterFlag::no);
  CHECK(parse_cluster_flag(200, "true\n") == ClusterFlag::yes);
  CHECK(parse_cluster_flag(404, "") == ClusterFlag::absent);
  CHECK(parse_cluster_flag(404, R"({"errors":[]})") == ClusterFlag::absent);
  CHECK(parse_cluster_flag(200, "false") == ClusterFlag::bad);
  CHECK(parse_cluster_flag(200, "yes") == ClusterFlag::bad);
  CHECK(parse_cluster_flag(500, "true") == ClusterFlag::bad);
}

TEST_CASE("neo4j cluster status: members, leader, health per database") {
  const auto led = parse_cluster_status(fixture("cluster_status_leader.json"));
  INFO(led.error);
  REQUIRE(led.databases.has_value());
  REQUIRE(led.databases->size() == 2);
  const auto& neo4j = led.databases->at(0);
  CHECK(neo4j.name == "neo4j");
  CHECK(neo4j.voting_members == 3);
  CHECK(neo4j.leader_known);
  CHECK(neo4j.healthy);
  CHECK(neo4j.core);
  CHECK(neo4j.millis_since_leader_message == 0.0);
  CHECK(led.databases->at(1).millis_since_leader_message == 84.0);

  const auto leaderless = parse_cluster_status(fixture("cluster_status_no_leader.json"));
  REQUIRE(leaderless.databases.has_value());
  REQUIRE(leaderless.databases->size() == 1);
  CHECK_FALSE(leaderless.databases->at(0).leader_known);
  CHECK(leaderless.databases->at(0).millis_since_leader_message == 48213.0);
}

TEST_CASE("neo4j cluster status: bad documents say where") {
  const auto error_of = [](std::string_view body) {
    const auto result = parse_cluster_status(body);
    CHECK_FALSE(result.databases.has_value());
    return result.error;
  };
  CHECK(error_of(fixture("not_json.txt")).find("not JSON") != std::string::npos);
  CHECK(error_of("{}").find("not a JSON array") != std::string::npos);
  CHECK(error_of("[1]").find("[0] is not an object") != std::string::npos);
  CHECK(error_of(R"([{"databaseName": "a"}])").find("databaseStatus") != std::string::npos);
  CHECK(error_of(R"([{"databaseName": "a", "databaseStatus": {"healthy": "yes"}}])")
            .find("healthy") != std::string::npos);
  CHECK(error_of(R"([{"databaseName": "a", "databaseStatus": {"leader": 7}}])").find("leader") !=
        std::string::npos);
  CHECK(error_of(R"([{"databaseName": "a", "databaseStatus": {"votingMembers": 3}}])")
            .find("votingMembers") != std::string::npos);
  // A number past double's range: nlohmann refuses the document (error_of
  // checks that nothing was parsed).
  CHECK_FALSE(error_of(R"([{"databaseName": "a", "databaseStatus":
                            {"millisSinceLastLeaderMessage": 1e400}}])")
                  .empty());
  CHECK(error_of(R"([{"databaseName": "a", "databaseStatus":
                      {"millisSinceLastLeaderMessage": -5}}])")
            .find("millisSinceLastLeaderMessage") != std::string::npos);
  // An empty array is a valid answer (a server with no clustered database).
  CHECK(parse_cluster_status("[]").databases.has_value());
}

TEST_CASE("neo4j collect_round and liveness: the documented series") {
  Round round;
  round.discovery = {"5.26.0", "enterprise"};
  round.database = "neo4j";
  round.available = true;
  round.writable = false;
  round.cluster = *parse_cluster_status(fixture("cluster_status_no_leader.json")).databases;
  SampleSink sink;
  collect_round(round, sink);
  CHECK(value(sink, "neo4j_version_info", {{"version", "5.26.0"}, {"edition", "enterprise"}}) == 1);
  CHECK(value(sink, "neo4j_database_available", {{"database", "neo4j"}}) == 1);
  REQUIRE(sink.find("neo4j_database_writable", {{"database", "neo4j"}}) != nullptr);
  CHECK(sink.find("neo4j_database_writable", {{"database", "neo4j"}})->gauge.value == 0);
  CHECK(value(sink, "neo4j_cluster_voting_members", {{"database", "neo4j"}}) == 3);
  CHECK(sink.find("neo4j_cluster_leader_known", {{"database", "neo4j"}})->gauge.value == 0);
  CHECK(value(sink, "neo4j_cluster_member_healthy", {{"database", "neo4j"}}) == 1);
  CHECK(value(sink, "neo4j_cluster_leader_message_age_seconds", {{"database", "neo4j"}}) ==
        doctest::Approx(48.213));

  // Community: no endpoint, so no writable series and no cluster series.
  Round community;
  community.discovery = {"5.26.0", "community"};
  community.database = "neo4j";
  community.available = true;
  SampleSink plain;
  collect_round(community, plain);
  CHECK(plain.find("neo4j_database_writable", {{"database", "neo4j"}}) == nullptr);
  CHECK(plain.series_count("neo4j_cluster_leader_known") == 0);

  Liveness liveness;
  liveness.reason = DownReason::unavailable;
  liveness.failures[DownReason::unavailable] = 2;
  SampleSink live;
  liveness.emit(live);
  REQUIRE(live.find("neo4j_up") != nullptr);
  CHECK(live.find("neo4j_up")->gauge.value == 0);
  CHECK(value(live, "neo4j_connection_failure", {{"reason", "unavailable"}}) == 1);
  CHECK(live.find("neo4j_connection_failure", {{"reason", "none"}})->gauge.value == 0);
  CHECK(value(live, "neo4j_connection_failures_total", {{"reason", "unavailable"}}) == 2);
  CHECK(live.find("neo4j_query_rtt_seconds") == nullptr);  // none before a query answered
  CHECK(live.series_count("neo4j_connection_failure") == down_reason_names().size());
}
