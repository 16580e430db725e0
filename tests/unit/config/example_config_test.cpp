#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/parse.hpp"
#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;

TEST_CASE("the documented example config loads cleanly") {
  const LoadResult result = load_config_file(PGVIGIL_SOURCE_DIR "/config/pgvigil.example.toml");
  INFO(all_errors(result));
  INFO(all_warnings(result));
  REQUIRE(result.config.has_value());
  CHECK(result.warnings.empty());
  const Config& config = *result.config;
  REQUIRE(config.targets.size() == 2);
  CHECK(config.targets[0].name == "primary");
  CHECK(config.targets[1].name == "replica");
  CHECK(config.targets[0].conn.at("host") == "127.0.0.1");
  CHECK_FALSE(config.targets[1].conninfo.empty());
  CHECK(config.targets[1].probes.at("vacuum").enabled == false);
  CHECK_FALSE(config.targets[0].checks.empty());
}

namespace {

std::filesystem::path write_temp_config(const std::string& name, const std::string& text,
                                        mode_t mode) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("pgvigil_config_test_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

bool warns_about_permissions(const LoadResult& result) {
  for (const auto& warning : result.warnings) {
    if (contains(warning, "readable by")) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a config holding secrets warns when others can read it") {
  const std::string secret_text = "[[target]]\nname = \"a\"\npassword = \"hunter2\"\n";
  const auto world = write_temp_config("world.toml", secret_text, 0644);
  const auto group = write_temp_config("group.toml", secret_text, 0640);
  const auto owner = write_temp_config("owner.toml", secret_text, 0600);
  const auto harmless = write_temp_config(
      "harmless.toml", "[[target]]\nname = \"a\"\npassword_file = \"/etc/p\"\n", 0644);

  const LoadResult world_result = load_config_file(world.string());
  CHECK(warns_about_permissions(world_result));
  CHECK(contains(all_warnings(world_result), "everyone"));
  CHECK_FALSE(contains(all_warnings(world_result), "hunter2"));
  const LoadResult group_result = load_config_file(group.string());
  CHECK(warns_about_permissions(group_result));
  CHECK(contains(all_warnings(group_result), "group"));
  CHECK_FALSE(warns_about_permissions(load_config_file(owner.string())));
  CHECK_FALSE(warns_about_permissions(load_config_file(harmless.string())));

  for (const auto& path : {world, group, owner, harmless}) std::filesystem::remove(path);
}
