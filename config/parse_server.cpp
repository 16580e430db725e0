// [server] and [log]: the daemon's own HTTP endpoint and logging.
#include "config/config_parser.hpp"
#include "config/host_port.hpp"

namespace pgvigil::config {

void ConfigParser::parse_server(const Field& field) {
  ServerConfig& server = config_.server;
  dispatch(
      field,
      {
          {"listen", [&](const Field& f) { parse_listen(f); }},
          {"max_connections",
           [&](const Field& f) {
             if (auto n = as_integer(f, 1, 1'000'000)) {
               server.max_connections = static_cast<std::size_t>(*n);
             }
           }},
          {"max_request_size",
           [&](const Field& f) {
             if (auto bytes = as_size(f, 1)) {
               server.max_request_bytes = static_cast<std::size_t>(*bytes);
             }
           }},
          {"read_timeout", [&](const Field& f) { read_duration(f, server.read_timeout); }},
          {"idle_timeout", [&](const Field& f) { read_duration(f, server.idle_timeout); }},
          {"auth_exempt_health", [&](const Field& f) { read_bool(f, server.auth_exempt_health); }},
          {"tls", [&](const Field& f) { parse_tls(f); }},
          {"basic_auth", [&](const Field& f) { parse_basic_auth(f); }},
      });
}

void ConfigParser::parse_listen(const Field& field) {
  const auto* array = field.node.as_array();
  if (array == nullptr) {
    error(field,
          "expected an array of \"host:port\" strings, got " + std::string(type_name(field.node)));
    return;
  }
  std::vector<std::string> addresses;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const Field item = element(field, i, *array->get(i));
    const std::string* address = as_string(item);
    if (address == nullptr || !valid_listen_address(item, *address)) {
      ok = false;
      continue;
    }
    addresses.push_back(*address);
  }
  if (ok && addresses.empty()) {
    error(field, "must list at least one address");
    return;
  }
  if (ok) config_.server.listen = std::move(addresses);
}

bool ConfigParser::valid_listen_address(const Field& field, std::string_view address) {
  const HostPortResult parsed = parse_host_port(address);
  if (!parsed.value) error(field, "invalid address " + quoted(address) + ": " + parsed.error);
  return parsed.value.has_value();
}

void ConfigParser::parse_tls(const Field& field) {
  TlsConfig tls;
  dispatch(field,
           {
               {"cert_file", [&](const Field& f) { read_string(f, tls.cert_file); }},
               {"key_file", [&](const Field& f) { read_string(f, tls.key_file); }},
               {"client_ca_file", [&](const Field& f) { read_string(f, tls.client_ca_file); }},
               {"client_auth",
                [&](const Field& f) {
                  read_choice(f, tls.client_auth, {"none", "require_and_verify"});
                }},
               {"min_version",
                [&](const Field& f) {
                  read_choice(f, tls.min_version, {"TLS1.2", "TLS1.3"});
                }},
           });
  if (!field.node.is_table()) return;
  if (tls.cert_file.empty()) missing(field, "cert_file");
  if (tls.key_file.empty()) missing(field, "key_file");
  if (tls.client_auth == "require_and_verify" && tls.client_ca_file.empty()) {
    error(field, "client_auth = \"require_and_verify\" needs client_ca_file");
  }
  config_.server.tls = std::move(tls);
}

void ConfigParser::parse_basic_auth(const Field& field) {
  dispatch(field, {{"users", [&](const Field& users) {
                      each_member(users, [&](const Field& f, std::string_view user) {
                        parse_basic_auth_user(f, user);
                      });
                    }}});
}

void ConfigParser::parse_basic_auth_user(const Field& field, std::string_view user) {
  if (user.empty() || user.find(':') != std::string_view::npos) {
    error(field, "a basic-auth user name must be non-empty and must not contain ':'");
    return;
  }
  const std::string* hash = as_string(field);
  if (hash == nullptr) return;
  // Never echo the value: it might be a plaintext password by mistake.
  const bool looks_like_bcrypt =
      hash->size() == 60 && (*hash)[0] == '$' && (*hash)[1] == '2' && (*hash)[3] == '$' &&
      ((*hash)[2] == 'a' || (*hash)[2] == 'b' || (*hash)[2] == 'y') && (*hash)[6] == '$';
  if (!looks_like_bcrypt) {
    error(field,
          "expected a bcrypt hash (\"$2y$10$...\", 60 characters), not a plaintext password");
    return;
  }
  config_.server.basic_auth_users[std::string(user)] = *hash;
}

void ConfigParser::parse_log(const Field& field) {
  LogConfig& log = config_.log;
  dispatch(field, {
                      {"level", [&](const Field& f) { read_choice(f, log.level, kLogLevels); }},
                      {"format",
                       [&](const Field& f) {
                         read_choice(f, log.format, {"text", "json"});
                       }},
                  });
}

}  // namespace pgvigil::config
