#pragma once
// What a configuration needs outside its own text, checked before it is used:
// by check-config, at start and on reload (a reload that fails here keeps the
// running configuration). The TOML parser cannot see these: each target's
// connection parameters as libpq reads them (conninfo syntax, password_file,
// the TLS files it names) and the files of [server.tls] and [alerting].
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgvigil {

// One message per problem, naming the target or key and the file; never a
// secret. Empty when everything the configuration names can be used. Reads
// small local files: call it where loading the config file itself is fine.
std::vector<std::string> check_config_dependencies(const config::Config& config);

}  // namespace pgvigil
