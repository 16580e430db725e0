#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "probes/patroni.hpp"

using namespace pgvigil;

namespace {

// Replies recorded from a real Patroni 3.0.2 (see tests/data/patroni/README.md).
std::string recorded(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/patroni/" + name);
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

Labels member(const std::string& name) {
  return {{"member", name}};
}

Labels member(const std::string& name, const std::string& key, const std::string& state) {
  return {{"member", name}, {key, state}};
}

std::string error_of(std::string_view body) {
  std::string error;
  auto cluster = parse_patroni_cluster(body, &error);
  CHECK_FALSE(cluster.has_value());
  return error;
}

}  // namespace

TEST_CASE("patroni: a healthy two-member cluster") {
  PatroniProbe probe;
  SampleSink sink;
  REQUIRE(probe.collect_reply(recorded("healthy.json"), sink));
  CHECK(value(sink, "patroni_up") == 1);
  CHECK(sink.find("patroni_cluster_unlocked")->gauge.value == 0);
  CHECK(sink.find("patroni_is_paused")->gauge.value == 0);
  CHECK(value(sink, "patroni_cluster_members") == 2);
  CHECK(value(sink, "patroni_leader_info", member("member-a")) == 1);
  CHECK(value(sink, "patroni_member_role", member("member-a", "role", "leader")) == 1);
  CHECK(sink.find("patroni_member_role", member("member-a", "role", "replica"))->gauge.value == 0);
  CHECK(value(sink, "patroni_member_role", member("member-b", "role", "replica")) == 1);
  CHECK(value(sink, "patroni_member_state", member("member-b", "state", "running")) == 1);
  CHECK(value(sink, "patroni_member_timeline", member("member-a")) == 1);
  CHECK(value(sink, "patroni_member_timeline", member("member-b")) == 1);
  // The leader has no lag in Patroni's reply; the replica's is 0 bytes.
  CHECK(sink.find("patroni_member_lag_bytes", member("member-a")) == nullptr);
  REQUIRE(sink.find("patroni_member_lag_bytes", member("member-b")) != nullptr);
  CHECK(sink.find("patroni_member_lag_bytes", member("member-b"))->gauge.value == 0);
  CHECK(value(sink, "patroni_member_nofailover", member("member-b")) == 1);
  CHECK(sink.find("patroni_member_nofailover", member("member-a"))->gauge.value == 0);
  CHECK(sink.find("patroni_leader_changes_total")->counter.value == 0);
  CHECK(probe.last_error().empty());

  const auto& table = sink.evidence().at(std::string(kPatroniEvidenceKey));
  CHECK(table.find("leader member-a") != std::string::npos);
  CHECK(table.find("127.0.0.1:15433") != std::string::npos);
  CHECK(table.find("nofailover") != std::string::npos);
}

TEST_CASE("patroni: leaderless cluster is unlocked and has no leader series") {
  PatroniProbe probe;
  SampleSink sink;
  REQUIRE(probe.collect_reply(recorded("leaderless.json"), sink));
  CHECK(value(sink, "patroni_up") == 1);
  CHECK(value(sink, "patroni_cluster_unlocked") == 1);
  CHECK(value(sink, "patroni_cluster_members") == 1);
  CHECK(sink.series_count("patroni_leader_info") == 0);
  CHECK(value(sink, "patroni_member_role", member("member-b", "role", "replica")) == 1);
  CHECK(sink.evidence().at(std::string(kPatroniEvidenceKey)).find("NO LEADER") !=
        std::string::npos);
}

TEST_CASE("patroni: maintenance mode and a stopped member") {
  PatroniProbe probe;
  SampleSink paused;
  REQUIRE(probe.collect_reply(recorded("paused.json"), paused));
  CHECK(value(paused, "patroni_is_paused") == 1);
  CHECK(value(paused, "patroni_member_pending_restart", member("member-b")) == 1);
  CHECK(paused.find("patroni_member_pending_restart", member("member-a"))->gauge.value == 0);

  SampleSink stopped;
  REQUIRE(probe.collect_reply(recorded("paused_member_stopped.json"), stopped));
  CHECK(value(stopped, "patroni_member_state", member("member-b", "state", "stopped")) == 1);
  CHECK(stopped.find("patroni_member_state", member("member-b", "state", "running"))->gauge.value ==
        0);
  // "lag": "unknown" and no timeline: no sample rather than a made-up 0.
  CHECK(stopped.find("patroni_member_lag_bytes", member("member-b")) == nullptr);
  CHECK(stopped.find("patroni_member_timeline", member("member-b")) == nullptr);
  CHECK(value(stopped, "patroni_cluster_unlocked") == 0);
  CHECK(stopped.evidence().at(std::string(kPatroniEvidenceKey)).find("paused") !=
        std::string::npos);
}

TEST_CASE("patroni: sync standby and pending restart") {
  PatroniProbe probe;
  SampleSink sync;
  REQUIRE(probe.collect_reply(recorded("sync_standby.json"), sync));
  CHECK(value(sync, "patroni_member_role", member("member-b", "role", "sync_standby")) == 1);
  CHECK(sync.find("patroni_member_role", member("member-b", "role", "replica"))->gauge.value == 0);

  SampleSink pending;
  REQUIRE(probe.collect_reply(recorded("pending_restart.json"), pending));
  CHECK(value(pending, "patroni_member_pending_restart", member("member-a")) == 1);
}

TEST_CASE("patroni: scope label and an unexpected role or state keep their series") {
  const std::string body =
      R"({"scope": "main", "members": [{"name": "x", "role": "uninitialized", "state": "initdb failed"}]})";
  PatroniProbe probe;
  SampleSink sink;
  REQUIRE(probe.collect_reply(body, sink));
  CHECK(value(sink, "patroni_cluster_unlocked", {{"scope", "main"}}) == 1);
  CHECK(value(sink, "patroni_member_role",
              {{"scope", "main"}, {"member", "x"}, {"role", "uninitialized"}}) == 1);
  CHECK(value(sink, "patroni_member_state",
              {{"scope", "main"}, {"member", "x"}, {"state", "initdb failed"}}) == 1);
}

TEST_CASE("patroni: an empty member list is a cluster without a leader, not an error") {
  PatroniProbe probe;
  SampleSink sink;
  REQUIRE(probe.collect_reply(R"({"members": []})", sink));
  CHECK(value(sink, "patroni_cluster_unlocked") == 1);
  CHECK(sink.find("patroni_cluster_members")->gauge.value == 0);
  CHECK(sink.evidence().at(std::string(kPatroniEvidenceKey)).find("no members") !=
        std::string::npos);
}

TEST_CASE("patroni: leader changes are counted across rounds, a gap is not a change") {
  const std::string a = recorded("healthy.json");
  std::string b = a;  // the same reply with the roles swapped
  b.replace(b.find("\"leader\""), 8, "\"XXXXXX\"");
  b.replace(b.find("\"replica\""), 9, "\"leader\"");
  b.replace(b.find("\"XXXXXX\""), 8, "\"replica\"");
  const std::string none = recorded("leaderless.json");

  PatroniProbe probe;
  auto changes = [&](const std::string& body) {
    SampleSink sink;
    probe.collect_reply(body, sink);
    return sink.find("patroni_leader_changes_total")->counter.value;
  };
  CHECK(changes(a) == 0);
  CHECK(changes(none) == 0);
  CHECK(changes(a) == 0);  // the same leader came back
  CHECK(changes(b) == 1);
  SampleSink failed;
  probe.collect_failure("connect: Connection refused", failed);
  CHECK(failed.find("patroni_leader_changes_total")->counter.value == 1);
  CHECK(changes(a) == 2);
}

TEST_CASE("patroni: a failed fetch gives patroni_up 0 and no member series") {
  PatroniProbe probe;
  SampleSink sink;
  probe.collect_failure("connect: Connection refused", sink);
  CHECK(sink.find("patroni_up")->gauge.value == 0);
  CHECK(sink.series_count("patroni_cluster_unlocked") == 0);
  CHECK(sink.series_count("patroni_member_role") == 0);
  CHECK(probe.last_error() == "connect: Connection refused");
  CHECK(sink.evidence().at(std::string(kPatroniEvidenceKey)).find("Connection refused") !=
        std::string::npos);
}

TEST_CASE("patroni: malformed replies give an error naming the place, never a crash") {
  const std::string healthy = recorded("healthy.json");
  CHECK(error_of("") == "patroni /cluster: empty reply");
  CHECK(error_of(healthy.substr(0, healthy.size() / 2))
            .starts_with("patroni /cluster: not valid JSON"));
  CHECK(error_of("<html>502 Bad Gateway</html>").starts_with("patroni /cluster: not valid JSON"));
  CHECK(error_of("[1, 2]") == "patroni /cluster: the reply is not a JSON object");
  CHECK(error_of("{}") == "patroni /cluster: members is missing");
  CHECK(error_of(R"({"members": {}})") == "patroni /cluster: members is not an array");
  CHECK(error_of(R"({"members": [{"name": "a", "role": "leader"}, 3]})") ==
        "patroni /cluster: members[1] is not an object");
  CHECK(error_of(R"({"members": [{"name": "a", "role": "leader"}, {"name": "b", "role": 1}]})") ==
        "patroni /cluster: members[1].role is not a string");
  CHECK(error_of(R"({"members": [{"role": "leader"}]})") ==
        "patroni /cluster: members[0].name is missing");
  CHECK(error_of(R"({"members": [{"name": "", "role": "leader"}]})") ==
        "patroni /cluster: members[0].name is empty");
  CHECK(error_of(R"({"members": [{"name": "a", "role": "leader", "timeline": "1"}]})") ==
        "patroni /cluster: members[0].timeline is not an integer");
  CHECK(error_of(R"({"members": [{"name": "a", "role": "replica", "lag": [1]}]})") ==
        "patroni /cluster: members[0].lag is neither a number nor a string");
  CHECK(error_of(R"({"members": [{"name": "a", "role": "replica", "tags": 1}]})") ==
        "patroni /cluster: members[0].tags is not an object");
  CHECK(error_of(R"({"members": [], "pause": "yes"})") ==
        "patroni /cluster: pause is not a boolean");
  CHECK(
      error_of(
          R"({"members": [{"name": "a", "role": "leader"}, {"name": "a", "role": "replica"}]})") ==
      "patroni /cluster: members[1].name repeats members[0].name");
  CHECK(error_of(std::string(100000, '[')).find("nested deeper") != std::string::npos);
  CHECK(error_of("{\"members\": [\"\xff\"]}").starts_with("patroni /cluster: not valid JSON"));

  PatroniProbe probe;
  SampleSink sink;
  CHECK_FALSE(probe.collect_reply(R"({"members": [{"name": "a", "role": 1}]})", sink));
  CHECK(sink.find("patroni_up")->gauge.value == 0);
  CHECK(sink.series_count("patroni_member_role") == 0);
  CHECK(probe.last_error() == "patroni /cluster: members[0].role is not a string");
}

TEST_CASE("patroni: every prefix of a recorded reply parses or fails cleanly") {
  const std::string healthy = recorded("paused_member_stopped.json");
  for (std::size_t n = 0; n < healthy.size(); ++n) {
    std::string error;
    auto cluster = parse_patroni_cluster(std::string_view(healthy).substr(0, n), &error);
    if (!cluster) CHECK_FALSE(error.empty());
  }
}
