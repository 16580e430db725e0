#pragma once
// Patroni's keys in etcd, read through etcd's v3 JSON gateway: the range
// request for a namespace and the parse of its reply into discovered
// entries. Pure; the polling is collect/sd_sources' PatroniSdSource.
//
// Patroni writes, per cluster (scope), /<namespace>/<scope>/members/<member>
// with a JSON value ({"conn_url": "postgres://host:port/db", "api_url":
// "http://host:8008/patroni", "role": ..., "state": ...}) and
// /<namespace>/<scope>/leader holding the leader's member name.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/sd_format.hpp"

namespace pgvigil::collect {

// Standard base64 with padding, as etcd's gateway writes bytes; nothing when
// the text is not that.
std::optional<std::string> base64_decode(std::string_view text);

// The body of POST /v3/kv/range for every key under namespace_path ("/service/").
std::string etcd_prefix_range_request(std::string_view namespace_path);

// Entries from the reply: address host:port of conn_url; labels target
// ("<scope>.<member>"), cluster, member, __patroni_url__ (api_url without
// its /patroni path), __meta_patroni_role ("primary" for Patroni's older
// "master"), __meta_patroni_state and __meta_patroni_leader ("true" on the
// leader). `scopes` limits the clusters when not empty. Any malformed key
// or value is an error naming it (origin: the endpoint shown in messages),
// and a reply with errors yields no entries.
config::SdParseResult parse_patroni_members(std::string_view reply, std::string_view namespace_path,
                                            const std::vector<std::string>& scopes,
                                            std::string_view origin);

}  // namespace pgvigil::collect
