// [[file_sd]], [[http_sd]], [[target_template]] and shards in pgvigil.toml.
#include <doctest/doctest.h>

#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

TEST_CASE("discovery config: sources, templates and shards parse with their defaults") {
  const auto result = parse_config_text(R"(
shards = 3
shard = 1

[probes.activity]
interval = "20s"

[[file_sd]]
files = ["targets/*.json", "/etc/pgvigil/sd/*.yaml"]

[[file_sd]]
name = "k8s"
files = ["k8s/*.yml"]
refresh_interval = "1m"

[[http_sd]]
url = "https://sd.example.net/targets"
bearer_token_file = "/etc/pgvigil/sd.token"
timeout = "3s"

[[target_template]]
match = { cluster = "orders" }
user = "monitor"
password_file = "/etc/pgvigil/orders.pw"
dbname = "orders"
expected_replicas = 2
labels = { team = "payments" }
)",
                                        "p.toml");
  REQUIRE_MESSAGE(result.config, all_errors(result));
  const Config& c = *result.config;
  CHECK(c.shards == 3);
  CHECK(c.shard == 1);
  REQUIRE(c.file_sd.size() == 2);
  CHECK(c.file_sd[0].name == "file_sd");
  CHECK(c.file_sd[0].files.size() == 2);
  CHECK(c.file_sd[0].refresh_interval == 5min);
  CHECK(c.file_sd[1].name == "k8s");
  CHECK(c.file_sd[1].refresh_interval == 1min);
  REQUIRE(c.http_sd.size() == 1);
  CHECK(c.http_sd[0].name == "http_sd");
  CHECK(c.http_sd[0].timeout == 3s);
  CHECK(c.http_sd[0].refresh_interval == 60s);
  REQUIRE(c.target_templates.size() == 1);
  const auto& t = c.target_templates[0];
  CHECK(t.match.at("cluster") == "orders");
  CHECK(t.base.conn.at("user") == "monitor");
  CHECK(t.base.conn.at("dbname") == "orders");
  CHECK(t.base.expected_replicas == 2);
  CHECK(t.defined_at == "p.toml:21");
  // Global probe defaults are folded into templates and the discovery defaults.
  CHECK(t.base.probes.at("activity").interval == 20s);
  CHECK(c.discovery_defaults.probes.at("activity").interval == 20s);
  CHECK(all_warnings(result).find("nothing will be monitored") == std::string::npos);

  const std::string rendered = render_effective_config(c);
  CHECK(rendered.find("[[target_template]]") != std::string::npos);
  CHECK(rendered.find("[[file_sd]]") != std::string::npos);
  CHECK(rendered.find("[[http_sd]]") != std::string::npos);
  const auto again = parse_config_text(rendered, "rendered.toml");
  REQUIRE_MESSAGE(again.config, all_errors(again));
  // The first line names the file; everything after it is the same.
  const std::string rerendered = render_effective_config(*again.config);
  CHECK(rerendered.substr(rerendered.find('\n')) == rendered.substr(rendered.find('\n')));
}

TEST_CASE("discovery config: mistakes name file, line and key") {
  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "p.toml"));
  };
  CHECK(errors_of("[[target_template]]\nhost = \"db\"\n")
            .find("p.toml:2:1: target_template[0].host: host comes from discovery") !=
        std::string::npos);
  CHECK(errors_of("[[target_template]]\nname = \"x\"\n").find("name comes from discovery") !=
        std::string::npos);
  CHECK(errors_of("[[target]]\nname = \"a\"\nmatch = { a = \"b\" }\n")
            .find("match belongs in a [[target_template]]") != std::string::npos);
  CHECK(errors_of("[[file_sd]]\nname = \"x\"\n").find("missing") != std::string::npos);
  CHECK(errors_of("[[file_sd]]\nfiles = []\n").find("list at least one glob") != std::string::npos);
  CHECK(errors_of("[[http_sd]]\nrefresh_interval = \"1m\"\n").find("url") != std::string::npos);
  CHECK(errors_of("[[http_sd]]\nurl = \"http://a/\"\nbasic_auth_user = \"u\"\n")
            .find("must be set together") != std::string::npos);
  CHECK(errors_of("shards = 2\nshard = 2\n").find("p.toml:2:9: shard: shard 2 is not below") !=
        std::string::npos);
  CHECK(errors_of("[[file_sd]]\nfiles = [\"a\"]\nrefresh = \"1m\"\n").find("refresh") !=
        std::string::npos);
}

TEST_CASE("discovery config: [[patroni_sd]] with its defaults, and its mistakes") {
  const auto result = parse_config_text(R"(
[[patroni_sd]]
etcd = ["http://10.0.0.1:2379", "https://10.0.0.2:2379"]
namespace = "pg/"
scopes = ["orders"]
)",
                                        "p.toml");
  REQUIRE_MESSAGE(result.config, all_errors(result));
  REQUIRE(result.config->patroni_sd.size() == 1);
  const auto& sd = result.config->patroni_sd[0];
  CHECK(sd.name == "patroni_sd");
  CHECK(sd.endpoints.size() == 2);
  CHECK(sd.namespace_path == "/pg/");
  CHECK(sd.scopes == std::vector<std::string>{"orders"});
  CHECK(sd.refresh_interval == 2s);
  CHECK(sd.timeout == 2s);
  CHECK(render_effective_config(*result.config).find("[[patroni_sd]]") != std::string::npos);

  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "p.toml"));
  };
  CHECK(errors_of("[[patroni_sd]]\nname = \"x\"\n").find("missing") != std::string::npos);
  CHECK(errors_of("[[patroni_sd]]\netcd = []\n").find("list at least one client URL") !=
        std::string::npos);
  CHECK(errors_of("[[patroni_sd]]\netcd = \"http://a:2379\"\n").find("expected a list") !=
        std::string::npos);
  CHECK(errors_of("[[patroni_sd]]\netcd = [\"ftp://a\"]\n").find("p.toml:2:") != std::string::npos);
  CHECK(errors_of("[[patroni_sd]]\netcd = [\"http://a:2379\"]\nnamespace = \"//\"\n")
            .find("namespace must not be empty") != std::string::npos);
  CHECK(errors_of("[[file_sd]]\nname = \"inv\"\nfiles = [\"a\"]\n[[patroni_sd]]\nname = \"inv\"\n"
                  "etcd = [\"http://a:2379\"]\n")
            .find("discovery source name \"inv\" at p.toml:4 is already used at p.toml:1") !=
        std::string::npos);
}
