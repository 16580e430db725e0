#include "daemon/preflight.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collect/conn_params.hpp"
#include "daemon/alertmanager_client.hpp"

namespace pgvigil {

namespace {

// "" when `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return {};
  return std::strerror(errno);
}

void check_file(std::vector<std::string>& problems, const std::string& what,
                const std::string& path) {
  if (path.empty()) return;
  if (auto why = unreadable(path); !why.empty())
    problems.push_back(what + ": cannot read " + path + ": " + why);
}

}  // namespace

std::vector<std::string> check_config_dependencies(const config::Config& config) {
  std::vector<std::string> problems;
  for (const auto& target : config.targets) {
    const auto built = build_conn_params(target, std::chrono::seconds(1));
    if (!built.error.empty()) {
      problems.push_back(built.error);
      continue;
    }
    // The files libpq would open only when it connects: a typo should fail
    // here, not as a target that is down for a reason nobody expects.
    for (const auto& [key, value] : built.params) {
      const bool names_a_file = key == "sslcert" || key == "sslkey" || key == "sslrootcert" ||
                                key == "sslcrl" || key == "passfile";
      if (names_a_file && value != "system")  // sslrootcert=system: the OS trust store
        check_file(problems, "target " + target.name + ": " + key, value);
    }
  }
  for (const auto& target : config.service_targets)
    check_file(problems, "target " + target.name + ": password_file", target.password_file);
  if (config.server.tls) {
    check_file(problems, "[server.tls] cert_file", config.server.tls->cert_file);
    check_file(problems, "[server.tls] key_file", config.server.tls->key_file);
    check_file(problems, "[server.tls] client_ca_file", config.server.tls->client_ca_file);
  }
  std::string error;
  alertmanager_authorization(config.alerting, &error);
  if (!error.empty()) problems.push_back("[alerting] " + error);
  return problems;
}

}  // namespace pgvigil
