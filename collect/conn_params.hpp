#pragma once
// The libpq connection parameters of a target's sessions, built from its
// config. Reading password_file is blocking: done at (re)load, off the
// probe path.
#include <chrono>
#include <optional>
#include <string>

#include "collect/pg_connection.hpp"
#include "config/config.hpp"

namespace pgvigil {

// libpq keyword/values for a target: conninfo, then explicit keywords, then the
// password from password_file, then what pgvigil always sets. Returns an error
// message (never containing the password) on a bad conninfo or unreadable file.
struct BuiltConnParams {
  ConnParams params;
  std::string error;
  bool local = false;  // the server runs on this host (host probes may look at its files)
  // libpq's connect_timeout (whole seconds, from conninfo or the target's
  // connect_timeout), which the session's own deadline honours; unset = the
  // session's default.
  std::optional<std::chrono::milliseconds> connect_timeout;
};
BuiltConnParams build_conn_params(const config::TargetConfig& target,
                                  std::chrono::milliseconds statement_timeout);

// Sets (or replaces) one keyword.
void set_conn_param(ConnParams& params, const std::string& key, std::string value);

}  // namespace pgvigil
