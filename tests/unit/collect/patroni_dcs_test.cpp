// Patroni's keys in etcd's v3 JSON gateway reply: members become entries.
#include "collect/patroni_dcs.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/http_url.hpp"

using pgvigil::collect::base64_decode;
using pgvigil::collect::etcd_prefix_range_request;
using pgvigil::collect::parse_patroni_members;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/patroni_sd/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A gateway reply holding one key.
std::string reply_with(const std::string& key, const std::string& value) {
  return nlohmann::json{{"kvs",
                         {{{"key", pgvigil::config::base64_encode(key)},
                           {"value", pgvigil::config::base64_encode(value)}}}}}
      .dump();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

}  // namespace

TEST_CASE("patroni dcs: base64 as etcd writes it") {
  CHECK(base64_decode("") == "");
  CHECK(base64_decode("YQ==") == "a");
  CHECK(base64_decode("YWI=") == "ab");
  CHECK(base64_decode("YWJj") == "abc");
  CHECK(base64_decode(pgvigil::config::base64_encode("/service/x/members/\xff")) ==
        "/service/x/members/\xff");
  CHECK_FALSE(base64_decode("YQ=").has_value());
  CHECK_FALSE(base64_decode("Y!==").has_value());
}

TEST_CASE("patroni dcs: the range request covers exactly the namespace") {
  const auto body = nlohmann::json::parse(etcd_prefix_range_request("/service/"));
  CHECK(base64_decode(body["key"].get<std::string>()) == "/service/");
  CHECK(base64_decode(body["range_end"].get<std::string>()) == "/service0");  // '/' + 1
}

TEST_CASE("patroni dcs: two clusters, members with their labels, other keys ignored") {
  const auto r = parse_patroni_members(fixture("two_clusters.json"), "/service/", {}, "etcd E");
  REQUIRE_MESSAGE(r.errors.empty(), joined(r.errors));
  REQUIRE(r.entries.size() == 3);
  std::map<std::string, pgvigil::config::SdEntry> by_target;
  for (const auto& entry : r.entries) by_target[entry.labels.at("target")] = entry;

  const auto& leader = by_target.at("orders.pg-orders-0");
  CHECK(leader.address == "10.0.4.17:5432");
  CHECK(leader.labels.at("cluster") == "orders");
  CHECK(leader.labels.at("member") == "pg-orders-0");
  CHECK(leader.labels.at("__patroni_url__") == "http://10.0.4.17:8008");
  CHECK(leader.labels.at("__meta_patroni_role") == "primary");  // Patroni 3.0.2 wrote master
  CHECK(leader.labels.at("__meta_patroni_leader") == "true");
  CHECK(leader.origin == "etcd E key /service/orders/members/pg-orders-0");

  const auto& replica = by_target.at("orders.pg-orders-1");
  CHECK(replica.address == "[fd00::12]:5432");  // no port in conn_url: 5432
  CHECK(replica.labels.at("__patroni_url__") == "https://[fd00::12]:8008");
  CHECK(replica.labels.at("__meta_patroni_state") == "streaming");
  CHECK(replica.labels.at("__meta_patroni_leader") == "false");

  const auto& billing = by_target.at("billing.pg-billing-a");
  CHECK(billing.address == "db-billing-a.internal:5433");  // user@ dropped
  CHECK(billing.labels.at("__meta_patroni_role") == "primary");

  SUBCASE("scopes limit the clusters") {
    const auto only =
        parse_patroni_members(fixture("two_clusters.json"), "/service/", {"billing"}, "etcd E");
    REQUIRE(only.entries.size() == 1);
    CHECK(only.entries[0].labels.at("cluster") == "billing");
  }
  SUBCASE("another namespace sees nothing") {
    CHECK(parse_patroni_members(fixture("two_clusters.json"), "/other/", {}, "etcd E")
              .entries.empty());
  }
}

TEST_CASE("patroni dcs: an empty namespace is no cluster, not an error") {
  const auto r = parse_patroni_members(R"({"header": {"revision": "3"}})", "/service/", {}, "e");
  CHECK(r.errors.empty());
  CHECK(r.entries.empty());
}

TEST_CASE("patroni dcs: every malformed reply or key is an error naming it, and no entries") {
  const auto errors_of = [](const std::string& reply) {
    const auto r = parse_patroni_members(reply, "/service/", {}, "etcd http://e:2379");
    CHECK(r.entries.empty());
    return joined(r.errors);
  };
  CHECK(errors_of("<html>").find("etcd http://e:2379: etcd reply is not a JSON object") !=
        std::string::npos);
  CHECK(errors_of(R"({"kvs": {}})").find("kvs is not a list") != std::string::npos);
  CHECK(errors_of(R"({"kvs": [{"value": "YQ=="}]})").find("kvs[0] has no base64 key") !=
        std::string::npos);
  CHECK(errors_of(reply_with("/service/s/members/m", "not json"))
            .find("key /service/s/members/m: the member's value is not a JSON object") !=
        std::string::npos);
  CHECK(errors_of(reply_with("/service/s/members/m", R"({"state": "running"})"))
            .find("key /service/s/members/m: no conn_url") != std::string::npos);
  CHECK(errors_of(reply_with("/service/s/members/m", R"({"conn_url": "http://h:1/x"})"))
            .find("conn_url is not postgres://host:port/") != std::string::npos);
  // A control character in a key is not echoed as is.
  CHECK(errors_of(reply_with("/service/s/members/a\nb", "{}")).find("a?b") != std::string::npos);

  // One bad member spoils the reply: the source keeps its last good list.
  const auto good = R"({"conn_url": "postgres://h:5432/postgres"})";
  nlohmann::json two{{"kvs",
                      {{{"key", pgvigil::config::base64_encode("/service/s/members/ok")},
                        {"value", pgvigil::config::base64_encode(good)}},
                       {{"key", pgvigil::config::base64_encode("/service/s/members/bad")},
                        {"value", pgvigil::config::base64_encode("[]")}}}}};
  const auto r = parse_patroni_members(two.dump(), "/service/", {}, "e");
  CHECK(r.entries.empty());
  CHECK(r.errors.size() == 1);
}
