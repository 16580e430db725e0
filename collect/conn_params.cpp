#include "collect/conn_params.hpp"

#include <libpq-fe.h>

#include "config/redaction.hpp"
#include "config/secret_file.hpp"
#include "config/text.hpp"

namespace pgvigil {

namespace {

bool is_local_host(std::string_view host) {
  return host.empty() || host.front() == '/' || host == "localhost" || host.starts_with("127.") ||
         host == "::1";
}

}  // namespace

void set_conn_param(ConnParams& params, const std::string& key, std::string value) {
  for (auto& [k, v] : params)
    if (k == key) {
      v = std::move(value);
      return;
    }
  params.emplace_back(key, std::move(value));
}

BuiltConnParams build_conn_params(const config::TargetConfig& target,
                                  std::chrono::milliseconds statement_timeout) {
  BuiltConnParams out;
  if (!target.conninfo.empty()) {
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(target.conninfo.c_str(), &err);
    if (!options) {
      // libpq quotes all of a URI it cannot read, or a word of a
      // keyword/value string: either may hold the password.
      out.error = "target " + target.name + ": invalid conninfo: " +
                  config::redact_conninfo_message(
                      err ? first_line(err) : std::string("out of memory"), target.conninfo);
      if (err) PQfreemem(err);
      return out;
    }
    for (auto* opt = options; opt->keyword; ++opt)
      if (opt->val && *opt->val) out.params.emplace_back(opt->keyword, opt->val);
    PQconninfoFree(options);
  }
  for (const auto& [key, value] : target.conn) set_conn_param(out.params, key, value);
  if (!target.password_file.empty()) {
    auto password = config::read_secret_file(target.password_file);
    if (!password) {
      out.error = "target " + target.name + ": cannot read password_file " + target.password_file;
      return out;
    }
    set_conn_param(out.params, "password", *password);
  }
  // What every monitoring session gets: its name, keepalives, and server-side
  // limits so a stuck monitoring query can never hold locks or a transaction.
  set_conn_param(out.params, "application_name", "pgvigil");
  set_conn_param(out.params, "keepalives", "1");
  set_conn_param(out.params, "keepalives_idle", "10");
  set_conn_param(out.params, "keepalives_interval", "5");
  set_conn_param(out.params, "keepalives_count", "3");
  std::string options;
  for (const auto& [k, v] : out.params)
    if (k == "options") options = v;
  options += " -c statement_timeout=" + std::to_string(statement_timeout.count()) +
             " -c lock_timeout=1000 -c idle_in_transaction_session_timeout=60000";
  set_conn_param(out.params, "options", options);
  std::string host;
  for (const auto& [k, v] : out.params)
    if (k == "host" || (k == "hostaddr" && host.empty())) host = v;
  out.local = is_local_host(host);
  for (const auto& [k, v] : out.params) {
    // libpq reads an integer prefix ("10", " 5"); a value that has none, or
    // zero (libpq: wait forever), leaves the session's own default.
    if (k != "connect_timeout") continue;
    const std::string_view digits = config::trim(v);
    long long seconds = 0;
    std::size_t used = 0;
    while (used < digits.size() && config::is_ascii_digit(digits[used]) && seconds < 86'400)
      seconds = seconds * 10 + (digits[used++] - '0');
    if (used > 0 && seconds > 0) out.connect_timeout = std::chrono::seconds(seconds);
  }
  return out;
}

}  // namespace pgvigil
