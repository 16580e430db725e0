#include "config/redaction.hpp"

#include <algorithm>

#include "config/conninfo.hpp"
#include "config/text.hpp"

namespace pgvigil::config {
namespace {

constexpr std::string_view kLogMask = "***";

// Replaces the password in the user info of the URL whose authority starts at
// `authority` (just after "://"). The authority ends at the first of
// `authority_ends`; the user info at the last '@' before that, so an
// unescaped '@' in a password is still covered; the password starts after
// the user info's first ':'. Returns where the authority now ends.
std::size_t mask_userinfo_password(std::string& text, std::size_t authority,
                                   std::string_view authority_ends, std::string_view mask) {
  std::size_t end = text.find_first_of(authority_ends, authority);
  if (end == std::string::npos) end = text.size();
  const std::size_t at = text.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < authority) return end;
  const std::size_t colon = text.find(':', authority);
  if (colon == std::string::npos || colon > at) return end;
  text.replace(colon + 1, at - colon - 1, mask);
  return end - (at - colon - 1) + mask.size();
}

// The whitespace and quotes that end a URL inside free text, and '/'.
constexpr std::string_view kFreeTextUrlEnds = "/ \t\n\r\f\v'\"";

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
  std::string out(conninfo);
  if (is_conninfo_uri(conninfo)) {
    // Right to left so earlier offsets stay valid.
    const auto params = uri_params(conninfo);
    for (auto it = params.rbegin(); it != params.rend(); ++it) {
      if (iequals(it->key, "password") && it->value_end > it->value_begin) {
        out.replace(it->value_begin, it->value_end - it->value_begin, kRedacted);
      }
    }
    // Only the query ends the authority here: libpq allows a '/' in a
    // password, and several host:port pairs.
    mask_userinfo_password(out, conninfo.find("://") + 3, "?", kRedacted);
    return out;
  }
  const ConninfoScan scan = scan_conninfo(conninfo);
  if (!scan.ok) {
    out.resize(scan.error_at);
    out += kRedacted;
  }
  for (auto it = scan.pairs.rbegin(); it != scan.pairs.rend(); ++it) {
    if (iequals(it->keyword, "password")) {
      out.replace(it->value_begin, it->value_end - it->value_begin, kRedacted);
    }
  }
  return out;
}

std::vector<std::string> conninfo_secrets(std::string_view conninfo) {
  std::vector<std::string> secrets;
  if (is_conninfo_uri(conninfo)) {
    for (const auto& param : uri_params(conninfo)) {
      if (iequals(param.key, "password") && param.value_end > param.value_begin)
        secrets.emplace_back(
            conninfo.substr(param.value_begin, param.value_end - param.value_begin));
    }
    // The same span redact_conninfo() masks: from the user info's first ':'
    // to the last '@' before the query.
    const std::size_t authority = conninfo.find("://") + 3;
    const std::size_t end = std::min(conninfo.find('?', authority), conninfo.size());
    const std::size_t at = conninfo.substr(0, end).rfind('@');
    const std::size_t colon = conninfo.find(':', authority);
    if (at != std::string_view::npos && at >= authority && colon < at && at > colon + 1)
      secrets.emplace_back(conninfo.substr(colon + 1, at - colon - 1));
    return secrets;
  }
  const ConninfoScan scan = scan_conninfo(conninfo);
  for (const auto& pair : scan.pairs)
    if (iequals(pair.keyword, "password")) secrets.push_back(pair.value);
  if (!scan.ok) {
    std::string_view rest = conninfo.substr(scan.error_at);
    while (!rest.empty()) {
      std::size_t begin = 0;
      while (begin < rest.size() && is_ascii_space(rest[begin])) ++begin;
      std::size_t end = begin;
      while (end < rest.size() && !is_ascii_space(rest[end])) ++end;
      if (end > begin) secrets.emplace_back(rest.substr(begin, end - begin));
      rest.remove_prefix(end);
    }
  }
  return secrets;
}

std::string redact_conninfo_message(std::string_view message, std::string_view conninfo) {
  std::string out(message);
  if (!conninfo.empty()) {
    const std::string redacted = redact_conninfo(conninfo);
    for (std::size_t at = out.find(conninfo); at != std::string::npos;
         at = out.find(conninfo, at + redacted.size())) {
      out.replace(at, conninfo.size(), redacted);
    }
  }
  return scrub_secrets(out, conninfo_secrets(conninfo));
}

std::string redact_url_userinfo(std::string_view url) {
  std::string out(url);
  const std::size_t scheme = out.find("://");
  if (scheme != std::string::npos) mask_userinfo_password(out, scheme + 3, "/?#", kRedacted);
  return out;
}

std::string mask_secrets(std::string_view text) {
  std::string out(text);
  std::size_t from = 0;
  while (true) {
    const std::size_t at = ifind(out, "password", from);
    if (at == std::string::npos) break;
    std::size_t pos = at + 8;
    while (pos < out.size() && out[pos] == ' ') ++pos;
    if (pos >= out.size() || out[pos] != '=') {
      from = at + 8;
      continue;
    }
    ++pos;
    while (pos < out.size() && out[pos] == ' ') ++pos;
    const std::size_t value_start = pos;
    if (pos < out.size() && (out[pos] == '\'' || out[pos] == '"')) {
      const char quote = out[pos++];
      while (pos < out.size() && out[pos] != quote) {
        if (out[pos] == '\\' && pos + 1 < out.size()) ++pos;
        ++pos;
      }
      if (pos < out.size()) ++pos;  // the closing quote
    } else {
      while (pos < out.size() && !is_ascii_space(out[pos]) && out[pos] != ',' && out[pos] != ';' &&
             out[pos] != '&' && out[pos] != '"') {
        ++pos;
      }
    }
    out.replace(value_start, pos - value_start, kLogMask);
    from = value_start + kLogMask.size();
  }
  for (std::size_t scheme = out.find("://"); scheme != std::string::npos;
       scheme = out.find("://", from)) {
    from = mask_userinfo_password(out, scheme + 3, kFreeTextUrlEnds, kLogMask);
  }
  return out;
}

std::string scrub_secrets(std::string_view text, std::span<const std::string> secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (std::size_t at = out.find(secret); at != std::string::npos;
         at = out.find(secret, at + kLogMask.size())) {
      out.replace(at, secret.size(), kLogMask);
    }
  }
  return mask_secrets(out);
}

}  // namespace pgvigil::config
