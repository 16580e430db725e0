// check_config_dependencies(): what check-config, start and reload refuse
// beyond the TOML itself. Real libpq parses the conninfo; files are made in a
// temporary directory.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/preflight.hpp"

namespace {

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& problem : problems)
    if (problem.find(text) != std::string::npos) return true;
  return false;
}

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-preflight.XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

pgvigil::config::TargetConfig target(const std::string& name) {
  pgvigil::config::TargetConfig t;
  t.name = name;
  t.conn["host"] = "127.0.0.1";
  return t;
}

}  // namespace

TEST_CASE("preflight: a usable configuration has no problems") {
  TempDir dir;
  std::ofstream(dir.path + "/pass") << "pw\n";
  pgvigil::config::Config config;
  auto t = target("a");
  t.password_file = dir.path + "/pass";
  t.conninfo = "postgresql://mon@127.0.0.1:5432/postgres?sslmode=prefer";
  config.targets.push_back(t);
  CHECK(pgvigil::check_config_dependencies(config).empty());
}

TEST_CASE("preflight: each missing file and a malformed conninfo is named, never a secret") {
  TempDir dir;
  pgvigil::config::Config config;
  auto missing_password = target("nofile");
  missing_password.password_file = dir.path + "/absent.pass";
  config.targets.push_back(missing_password);
  auto bad_uri = target("baduri");
  bad_uri.conninfo = "postgresql://u:Secret-In-Uri@[::1/postgres";
  config.targets.push_back(bad_uri);
  auto bad_kv = target("badkv");
  bad_kv.conninfo = "host=db password=Secret-Half other-Half";
  config.targets.push_back(bad_kv);
  auto missing_root = target("tls");
  missing_root.conn["sslrootcert"] = dir.path + "/absent-ca.crt";
  config.targets.push_back(missing_root);
  auto system_root = target("system");
  system_root.conn["sslrootcert"] = "system";  // the OS trust store, not a file
  config.targets.push_back(system_root);
  config.server.tls = pgvigil::config::TlsConfig{};
  config.server.tls->cert_file = dir.path + "/absent.crt";
  config.server.tls->key_file = dir.path + "/absent.key";
  config.alerting.bearer_token_file = dir.path + "/absent.token";

  const auto problems = pgvigil::check_config_dependencies(config);
  for (const auto& problem : problems) {
    CAPTURE(problem);
    CHECK(problem.find("Secret") == std::string::npos);
    CHECK(problem.find("Half") == std::string::npos);
  }
  CHECK(
      mentions(problems, "target nofile: cannot read password_file " + dir.path + "/absent.pass"));
  CHECK(mentions(problems, "target baduri: invalid conninfo"));
  CHECK(mentions(problems, "target badkv: invalid conninfo"));
  CHECK(mentions(problems, "target tls: sslrootcert: cannot read " + dir.path + "/absent-ca.crt"));
  CHECK_FALSE(mentions(problems, "target system"));
  CHECK(mentions(problems, "[server.tls] cert_file: cannot read " + dir.path + "/absent.crt"));
  CHECK(mentions(problems, "[server.tls] key_file"));
  CHECK(mentions(problems, "[alerting] cannot read a token from " + dir.path + "/absent.token"));
  CHECK(problems.size() == 7);
}
