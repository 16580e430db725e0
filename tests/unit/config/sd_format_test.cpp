// Prometheus' file_sd/http_sd formats, on fixture files (tests/data/sd).
#include "config/sd_format.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace pgvigil::config;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/sd/" + name);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

}  // namespace

TEST_CASE("sd format: JSON and YAML fixtures give the same entries, with their lines") {
  const auto json = parse_sd_text(fixture("two_groups.json"), SdSyntax::json, "a.json");
  const auto yaml = parse_sd_text(fixture("two_groups.yaml"), SdSyntax::yaml, "a.yaml");
  REQUIRE_MESSAGE(json.errors.empty(), joined(json.errors));
  REQUIRE_MESSAGE(yaml.errors.empty(), joined(yaml.errors));
  REQUIRE(json.entries.size() == 3);
  REQUIRE(yaml.entries.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(json.entries[i].address == yaml.entries[i].address);
    CHECK(json.entries[i].labels == yaml.entries[i].labels);
  }
  CHECK(json.entries[0].address == "db1.example.net:5432");
  CHECK(json.entries[1].address == "db2.example.net");
  CHECK(json.entries[1].labels.at("cluster") == "orders");
  CHECK(json.entries[2].address == "[::1]:6432");
  CHECK(json.entries[2].labels.at("__meta_team") == "payments");
  CHECK(json.entries[0].origin == "a.json:3");
  CHECK(yaml.entries[2].origin == "a.yaml:9");
}

TEST_CASE("sd format: an empty document is an empty list") {
  CHECK(parse_sd_text("", SdSyntax::yaml, "e.yaml").errors.empty());
  const auto json = parse_sd_text("[]", SdSyntax::json, "e.json");
  CHECK(json.errors.empty());
  CHECK(json.entries.empty());
  CHECK(parse_sd_text("[{\"targets\": []}]", SdSyntax::json, "e.json").errors.empty());
}

TEST_CASE("sd format: every problem names file, line and column, and rejects the whole text") {
  SUBCASE("truncated JSON") {
    const auto r = parse_sd_text(fixture("truncated.json"), SdSyntax::json, "t.json");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].starts_with("t.json:4:"));
    CHECK(r.errors[0].find("JSON syntax error") != std::string::npos);
    CHECK(r.entries.empty());
  }
  SUBCASE("targets not a list") {
    const auto r = parse_sd_text(fixture("targets_not_list.json"), SdSyntax::json, "n.json");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].starts_with("n.json:5:"));
    CHECK(r.errors[0].find("group 2: targets must be a list") != std::string::npos);
    CHECK(r.entries.empty());  // group 1 was fine, but the file is rejected as a whole
  }
  SUBCASE("invalid label name") {
    const auto r = parse_sd_text(fixture("bad_label.yaml"), SdSyntax::yaml, "b.yaml");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].starts_with("b.yaml:6:"));
    CHECK(r.errors[0].find("invalid label name \"bad-name\"") != std::string::npos);
  }
  SUBCASE("not a list") {
    const auto r = parse_sd_text("{\"targets\": [\"a:1\"]}", SdSyntax::json, "o.json");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("expected a list of target groups") != std::string::npos);
  }
  SUBCASE("unknown key, a label that is a map, a group without targets") {
    const auto r = parse_sd_text(
        "- labels: {a: b}\n- targets: [x:1]\n  extra: 1\n- targets: [y:1]\n  labels: {a: {b: c}}\n",
        SdSyntax::yaml, "k.yaml");
    INFO(joined(r.errors));
    // A group with labels and no targets is empty, as in Prometheus: not an error.
    CHECK(joined(r.errors).find("group 1") == std::string::npos);
    CHECK(joined(r.errors).find("k.yaml:3:3: group 2: unknown key \"extra\"") != std::string::npos);
    CHECK(joined(r.errors).find("k.yaml:5:15: group 3: label a must be a string") !=
          std::string::npos);
  }
  SUBCASE("YAML that is not JSON is refused from a JSON source") {
    const auto r = parse_sd_text("- targets: [a:1]\n", SdSyntax::json, "y.json");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("JSON syntax error") != std::string::npos);
  }
}

TEST_CASE("sd format: the extension picks the syntax") {
  SdSyntax syntax{};
  CHECK(sd_syntax_for_path("/etc/x/a.json", syntax));
  CHECK(syntax == SdSyntax::json);
  CHECK(sd_syntax_for_path("a.yml", syntax));
  CHECK(syntax == SdSyntax::yaml);
  CHECK(sd_syntax_for_path("a.yaml", syntax));
  CHECK_FALSE(sd_syntax_for_path("a.json.swp", syntax));
  CHECK_FALSE(sd_syntax_for_path("a.txt", syntax));
}
