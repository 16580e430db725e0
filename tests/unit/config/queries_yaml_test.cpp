#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>
#include <sstream>

#include "config/queries_yaml.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

namespace {

std::string fixture_path() {
  return std::string(PGVIGIL_SOURCE_DIR) + "/tests/data/queries/queries.yaml";
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const CollectorConfig& find(const QueriesYaml& yaml, std::string_view name) {
  for (const auto& c : yaml.collectors)
    if (c.name == name) return c;
  FAIL("no collector " << name);
  throw 0;
}

}  // namespace

TEST_CASE(
    "queries.yaml: every usage, cache_seconds, runonserver, and what cannot be mapped named") {
  const auto yaml = parse_queries_yaml(read(fixture_path()), "queries.yaml");
  std::string errors;
  for (const auto& e : yaml.errors) errors += e.to_string() + "\n";
  INFO(errors);
  REQUIRE(yaml.errors.empty());
  REQUIRE(yaml.collectors.size() == 5);

  const auto& jobs = find(yaml, "app_jobs");
  CHECK(jobs.interval == Duration{30s});
  CHECK(jobs.defined_at == "queries.yaml:5");
  REQUIRE(jobs.branches.size() == 1);
  CHECK(jobs.branches[0].sql.starts_with("SELECT queue, status"));
  REQUIRE(jobs.columns.size() == 5);
  CHECK(jobs.columns[0].usage == ColumnUsage::label);
  CHECK(jobs.columns[2].usage == ColumnUsage::gauge);
  CHECK(jobs.columns[2].help == "Jobs in the queue");
  CHECK(jobs.columns[3].usage == ColumnUsage::counter);
  CHECK(jobs.columns[4].usage == ColumnUsage::discard);
  CHECK(jobs.metric_name(jobs.columns[2]) == "app_jobs_depth");

  const auto& recent = find(yaml, "app_recent");
  REQUIRE(recent.branches.size() == 1);
  CHECK(recent.branches[0].min_version == 130000);
  CHECK(recent.branches[0].max_version == 0);

  CHECK(find(yaml, "app_user_tables").columns.size() == 20);
  // MAPPEDMETRIC and DURATION: the column is not read, and said so by name.
  const auto& mapped = find(yaml, "app_mapped");
  CHECK(mapped.columns[0].usage == ColumnUsage::discard);
  std::string notes;
  for (const auto& n : yaml.notes) notes += n.to_string() + "\n";
  CHECK(contains(notes, "query \"app_mapped\": column state has usage MAPPEDMETRIC"));
  CHECK(contains(notes, "query \"app_mapped\": column took has usage DURATION"));
  CHECK(contains(notes, "queries.yaml:"));
}

TEST_CASE("queries.yaml: runonserver ranges") {
  int lo = 0, hi = 0;
  CHECK(parse_runonserver(">=10.0.0 <12.0.0", lo, hi));
  CHECK(lo == 100000);
  CHECK(hi == 119999);
  CHECK(parse_runonserver(">9.6.0", lo, hi));
  CHECK(lo == 90601);
  CHECK(hi == 0);
  CHECK(parse_runonserver("<=13.4.0", lo, hi));
  CHECK(hi == 130004);
  CHECK(parse_runonserver("15.0.0", lo, hi));
  CHECK(lo == 150000);
  CHECK(hi == 159999);
  CHECK_FALSE(parse_runonserver(">=10.0.0 || <9.0.0", lo, hi));
  CHECK_FALSE(parse_runonserver("~10", lo, hi));
  CHECK_FALSE(parse_runonserver(">=12.0.0 <11.0.0", lo, hi));
}

TEST_CASE("queries.yaml: bad input names the query and file:line") {
  const auto errors_of = [](std::string_view text) {
    std::string all;
    for (const auto& e : parse_queries_yaml(text, "q.yaml").errors) all += e.to_string() + "\n";
    return all;
  };
  CHECK(contains(errors_of("a: [\n"), "q.yaml:"));
  CHECK(contains(errors_of("a:\n  query: SELECT 1\n  metrics:\n    - v:\n        usage: "
                           "HISTOGRAM\n"),
                 "q.yaml:5:16: a.metrics.v: query \"a\": column v: unknown usage \"HISTOGRAM\""));
  CHECK(contains(errors_of("a:\n  query: SELECT 1\n  runonserver: \"~10\"\n  metrics:\n    - v:\n"
                           "        usage: GAUGE\n"),
                 "runonserver \"~10\" cannot be mapped"));
  CHECK(contains(errors_of("a:\n  query: SELECT 1\n  metrics:\n    - v:\n        usage: LABEL\n"),
                 "no GAUGE or COUNTER column"));
  CHECK(contains(errors_of("a-b:\n  query: SELECT 1\n"), "namespace prefixes metric names"));
  CHECK(contains(errors_of("a:\n  querry: SELECT 1\n"), "unknown key \"querry\""));
}

TEST_CASE("queries.yaml: read from collector_files, and convert-queries' TOML loads the same") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pgvigil-queries-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(fixture_path(), dir / "queries.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "main.toml") << "collector_files = [\"*.yaml\"]\n[[target]]\nname = \"a\"\n";
  const auto from_yaml = load_config_file((dir / "main.toml").string());
  INFO(all_errors(from_yaml));
  REQUIRE(from_yaml.config);
  CHECK(contains(all_warnings(from_yaml), "MAPPEDMETRIC"));

  const auto yaml = parse_queries_yaml(read(fixture_path()), "queries.yaml");
  std::ofstream(dir / "converted.toml") << render_collectors_toml(yaml.collectors);
  std::ofstream(dir / "main.toml") << "collector_files = [\"converted.toml\"]\n[[target]]\n"
                                      "name = \"a\"\n";
  const auto from_toml = load_config_file((dir / "main.toml").string());
  INFO(all_errors(from_toml));
  REQUIRE(from_toml.config);
  const auto& a = from_yaml.config->collectors;
  const auto& b = from_toml.config->collectors;
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name == b[i].name);
    CHECK(a[i].interval == b[i].interval);
    REQUIRE(a[i].branches.size() == b[i].branches.size());
    CHECK(a[i].branches[0].sql == b[i].branches[0].sql);
    CHECK(a[i].branches[0].min_version == b[i].branches[0].min_version);
    REQUIRE(a[i].columns.size() == b[i].columns.size());
    // TOML tables come back sorted by key; compare as sets of (name, usage, help).
    for (const auto& column : a[i].columns) {
      const auto same = std::find_if(b[i].columns.begin(), b[i].columns.end(),
                                     [&](const auto& c) { return c.name == column.name; });
      REQUIRE(same != b[i].columns.end());
      CHECK(same->usage == column.usage);
      CHECK(same->help == column.help);
    }
  }
  std::filesystem::remove_all(dir);
}
