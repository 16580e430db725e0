// The five broken configs: each must name the file, line, column and key.
#include <doctest/doctest.h>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;

namespace {

ConfigError only_error(const LoadResult& result) {
  INFO(all_errors(result));
  REQUIRE_FALSE(result.config.has_value());
  REQUIRE(result.errors.size() == 1);
  return result.errors[0];
}

}  // namespace

TEST_CASE("broken config: unknown key") {
  const std::string path = PGVIGIL_TEST_DATA "/config/unknown_key.toml";
  const ConfigError error = only_error(load_config_file(path));
  CHECK(error.file == path);
  CHECK(error.line == 4);
  CHECK(error.column == 1);
  CHECK(error.key == "server.max_conections");
  CHECK(contains(error.message, "unknown key"));
  CHECK(contains(error.message, "did you mean \"max_connections\""));
  CHECK(error.to_string() == path + ":4:1: server.max_conections: " + error.message);
}

TEST_CASE("broken config: wrong type") {
  const std::string path = PGVIGIL_TEST_DATA "/config/wrong_type.toml";
  const ConfigError error = only_error(load_config_file(path));
  CHECK(error.file == path);
  CHECK(error.line == 5);
  CHECK(error.column == 5);  // the key is indented
  CHECK(error.key == "target[0].port");
  CHECK(contains(error.message, "a boolean"));
}

TEST_CASE("broken config: bad duration") {
  const std::string path = PGVIGIL_TEST_DATA "/config/bad_duration.toml";
  const ConfigError error = only_error(load_config_file(path));
  CHECK(error.file == path);
  CHECK(error.line == 10);
  CHECK(error.column == 1);
  CHECK(error.key == "target[0].check[0].interval");
  CHECK(contains(error.message, "invalid duration \"1m30\""));
}

TEST_CASE("broken config: duplicate target") {
  const std::string path = PGVIGIL_TEST_DATA "/config/duplicate_target.toml";
  const ConfigError error = only_error(load_config_file(path));
  CHECK(error.file == path);
  CHECK(error.line == 8);
  CHECK(error.column == 1);
  CHECK(error.key == "target[1].name");
  CHECK(error.message == "duplicate target name \"primary\" (first defined at line 3)");
}

TEST_CASE("broken config: missing file") {
  const std::string path = PGVIGIL_TEST_DATA "/config/does_not_exist.toml";
  const ConfigError error = only_error(load_config_file(path));
  CHECK(error.file == path);
  CHECK(error.line == 0);
  CHECK(error.column == 0);
  CHECK(error.key.empty());
  CHECK(contains(error.message, "No such file or directory"));
  CHECK(error.to_string() == path + ":0:0: " + error.message);
}

TEST_CASE("a directory is not a config file") {
  const ConfigError error = only_error(load_config_file(PGVIGIL_TEST_DATA "/config"));
  CHECK(error.line == 0);
  CHECK(contains(error.message, "Is a directory"));
}
