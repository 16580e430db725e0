#include "collect/patroni_dcs.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "config/http_url.hpp"

namespace pgvigil::collect {
namespace {

// The first byte string after every key that starts with `prefix`: etcd's
// range_end for a prefix scan.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// "postgres://user@host:port/db?x" -> "host:port" (port 5432 when absent).
std::optional<std::string> address_of_conn_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return std::nullopt;
  const std::string name = url.substr(0, scheme);
  if (name != "postgres" && name != "postgresql") return std::nullopt;
  std::string authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?"));
  if (const auto at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  if (authority.empty()) return std::nullopt;
  const bool bracketed = authority.front() == '[';
  const auto close = bracketed ? authority.find(']') : std::string::npos;
  if (bracketed && close == std::string::npos) return std::nullopt;
  const auto colon = authority.find(':', bracketed ? close : 0);
  if (colon == std::string::npos) return authority + ":5432";
  return authority;
}

// Patroni's api_url ends in /patroni; pgvigil's patroni_url is the base.
std::string api_base(std::string url) {
  constexpr std::string_view kSuffix = "/patroni";
  if (url.ends_with(kSuffix)) url.resize(url.size() - kSuffix.size());
  while (url.ends_with('/')) url.pop_back();
  return url;
}

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 200))
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return out;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the bytes that padding stands for as zeros.
  const auto padding = static_cast<std::size_t>(text.ends_with("==")  ? 2
                                                : text.ends_with('=') ? 1
                                                                      : 0);
  out.resize(static_cast<std::size_t>(written) - padding);
  return out;
}

std::string etcd_prefix_range_request(std::string_view namespace_path) {
  const std::string prefix(namespace_path);
  return nlohmann::json{{"key", config::base64_encode(prefix)},
                        {"range_end", config::base64_encode(prefix_end(prefix))}}
      .dump();
}

config::SdParseResult parse_patroni_members(std::string_view reply, std::string_view namespace_path,
                                            const std::vector<std::string>& scopes,
                                            std::string_view origin) {
  config::SdParseResult out;
  const std::string where(origin);
  const auto fail = [&](const std::string& message) {
    out.errors.push_back(where + ": " + message);
  };
  const auto json = nlohmann::json::parse(reply, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    fail("etcd reply is not a JSON object");
    return out;
  }
  if (!json.contains("kvs")) return out;  // no key under the namespace: no cluster yet
  const auto& kvs = json["kvs"];
  if (!kvs.is_array()) {
    fail("etcd reply: kvs is not a list");
    return out;
  }

  struct Member {
    std::string scope, name, key;
    nlohmann::json value;
  };
  std::vector<Member> members;
  std::map<std::string, std::string> leader_of;  // scope -> member name
  for (std::size_t i = 0; i < kvs.size(); ++i) {
    const auto& kv = kvs[i];
    const auto* key_text = kv.is_object() && kv.contains("key") && kv["key"].is_string()
                               ? kv["key"].get_ptr<const std::string*>()
                               : nullptr;
    const auto key = key_text ? base64_decode(*key_text) : std::nullopt;
    if (!key) {
      fail("etcd reply: kvs[" + std::to_string(i) + "] has no base64 key");
      continue;
    }
    if (!key->starts_with(namespace_path)) continue;
    const std::string rest = key->substr(namespace_path.size());  // "<scope>/..."
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const std::string scope = rest.substr(0, slash);
    const std::string path = rest.substr(slash + 1);
    const bool is_member =
        path.starts_with("members/") && path.size() > 8 && path.find('/', 8) == std::string::npos;
    if (!is_member && path != "leader") continue;  // config, history, status, ...
    if (!scopes.empty() && std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) continue;
    const std::string* value_text = kv.contains("value") && kv["value"].is_string()
                                        ? kv["value"].get_ptr<const std::string*>()
                                        : nullptr;
    const auto value = value_text ? base64_decode(*value_text) : std::optional<std::string>("");
    if (!value) {
      fail("key " + printable(*key) + ": value is not base64");
      continue;
    }
    if (!is_member) {
      leader_of[scope] = *value;
      continue;
    }
    auto parsed = nlohmann::json::parse(*value, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      fail("key " + printable(*key) + ": the member's value is not a JSON object");
      continue;
    }
    members.push_back({scope, path.substr(8), *key, std::move(parsed)});
  }

  for (const auto& member : members) {
    const auto text = [&](const char* field) {
      const auto found = member.value.find(field);
      return found != member.value.end() && found->is_string() ? found->get<std::string>()
                                                               : std::string();
    };
    const std::string conn_url = text("conn_url");
    const auto address = address_of_conn_url(conn_url);
    if (!address) {
      fail("key " + printable(member.key) +
           (conn_url.empty() ? ": no conn_url" : ": conn_url is not postgres://host:port/..."));
      continue;
    }
    config::SdEntry entry;
    entry.address = *address;
    entry.origin = where + " key " + printable(member.key);
    entry.labels["target"] = member.scope + "." + member.name;
    entry.labels["cluster"] = member.scope;
    entry.labels["member"] = member.name;
    if (const std::string api = text("api_url"); !api.empty())
      entry.labels["__patroni_url__"] = api_base(api);
    std::string role = text("role");
    if (role == "master") role = "primary";  // Patroni before 3.0.3 said master
    entry.labels["__meta_patroni_role"] = role;
    entry.labels["__meta_patroni_state"] = text("state");
    const auto leader = leader_of.find(member.scope);
    entry.labels["__meta_patroni_leader"] =
        leader != leader_of.end() && leader->second == member.name ? "true" : "false";
    out.entries.push_back(std::move(entry));
  }
  if (!out.errors.empty()) out.entries.clear();
  return out;
}

}  // namespace pgvigil::collect
