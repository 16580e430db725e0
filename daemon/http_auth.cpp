#include "daemon/http_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "config/text.hpp"

namespace pgvigil::http {

namespace {

// Value of one base64 character, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 (padding required, as RFC 7617 clients send it).
std::optional<std::string> decode_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t group = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (i >= text.size() - padding) {
      if (text[i] != '=') return std::nullopt;
    } else {
      value = base64_value(text[i]);
      if (value < 0) return std::nullopt;
    }
    group = (group << 6) | static_cast<std::uint32_t>(value);
    if (i % 4 == 3) {
      out.push_back(static_cast<char>((group >> 16) & 0xff));
      out.push_back(static_cast<char>((group >> 8) & 0xff));
      out.push_back(static_cast<char>(group & 0xff));
      group = 0;
    }
  }
  out.resize(out.size() - padding);
  return out;
}

bool looks_like_bcrypt(std::string_view hash) {
  return hash.size() == 60 && hash[0] == '$' && hash[1] == '2' &&
         (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$' && hash[6] == '$';
}

}  // namespace

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header_value) {
  const auto trim = [](std::string_view s) { return config::trim(s, " \t"); };
  header_value = trim(header_value);
  const auto space = header_value.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  if (!config::iequals(header_value.substr(0, space), "basic")) return std::nullopt;
  auto decoded = decode_base64(trim(header_value.substr(space + 1)));
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    wipe(*decoded);
    return std::nullopt;
  }
  BasicCredentials credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  wipe(*decoded);
  return credentials;
}

bool verify_bcrypt(std::string_view password, std::string_view hash) {
  if (!looks_like_bcrypt(hash)) return false;
  // crypt_r works on C strings: a password with a NUL byte could otherwise be
  // cut short and match a prefix.
  if (password.find('\0') != std::string_view::npos) return false;
  std::string password_text(password);
  const std::string hash_text(hash);
  auto data = std::make_unique<crypt_data>();  // about 32 KiB: not on the stack
  const char* computed = crypt_r(password_text.c_str(), hash_text.c_str(), data.get());
  bool matches = false;
  // A failed crypt_r returns NULL or a string starting with '*'.
  if (computed != nullptr && computed[0] != '*') {
    const std::string_view result(computed);
    matches =
        result.size() == hash.size() && CRYPTO_memcmp(result.data(), hash.data(), hash.size()) == 0;
  }
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  wipe(password_text);
  return matches;
}

bool is_health_path(std::string_view target) {
  const auto query = target.find('?');
  const std::string_view path = target.substr(0, query);
  return path == "/health" || path == "/ready";
}

CacheKey verification_key(std::string_view user, std::string_view password,
                          std::string_view stored_hash) {
  CacheKey key{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  const unsigned char separator = 0;
  unsigned int length = 0;
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), user.data(), user.size()) != 1 ||
      EVP_DigestUpdate(context.get(), &separator, 1) != 1 ||
      EVP_DigestUpdate(context.get(), password.data(), password.size()) != 1 ||
      EVP_DigestUpdate(context.get(), &separator, 1) != 1 ||
      EVP_DigestUpdate(context.get(), stored_hash.data(), stored_hash.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), key.data(), &length) != 1 || length != key.size()) {
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  }
  return key;
}

VerificationCache::VerificationCache(std::chrono::seconds time_to_live, std::size_t capacity)
    : time_to_live_(time_to_live), capacity_(std::max<std::size_t>(capacity, 1)) {}

bool VerificationCache::contains(const CacheKey& key, Clock::time_point now) const {
  // Every entry is compared, hit or not, so the scan takes the same time.
  bool found = false;
  for (const auto& entry : entries_) {
    const bool same = CRYPTO_memcmp(entry.key.data(), key.data(), key.size()) == 0;
    found = found || (same && entry.expires > now);
  }
  return found;
}

bool VerificationCache::find_and_refresh(const CacheKey& key, Clock::time_point now) {
  bool found = false;
  for (auto& entry : entries_) {
    const bool same = CRYPTO_memcmp(entry.key.data(), key.data(), key.size()) == 0;
    const bool hit = same && entry.expires > now;
    found = found || hit;
    if (hit) entry.expires = now + time_to_live_;
  }
  return found;
}

void VerificationCache::insert(const CacheKey& key, Clock::time_point now) {
  std::erase_if(entries_, [&](const Entry& entry) {
    return entry.expires <= now || CRYPTO_memcmp(entry.key.data(), key.data(), key.size()) == 0;
  });
  if (entries_.size() >= capacity_) {
    entries_.erase(
        std::min_element(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.expires < b.expires; }));
  }
  entries_.push_back({key, now + time_to_live_});
}

void VerificationCache::clear() {
  for (auto& entry : entries_) OPENSSL_cleanse(entry.key.data(), entry.key.size());
  entries_.clear();
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users, bool exempt_health,
                                       VerificationCache cache)
    : users_(users.begin(), users.end()), exempt_health_(exempt_health), cache_(std::move(cache)) {}

AuthDecision BasicAuthenticator::check(std::string_view target, std::string_view authorization,
                                       Clock::time_point now) {
  AuthDecision decision;
  if (!enabled() || (exempt_health_ && is_health_path(target))) {
    decision.kind = AuthDecision::Kind::allow;
    return decision;
  }
  auto credentials = parse_basic_authorization(authorization);
  if (!credentials) return decision;  // deny

  const auto user = users_.find(credentials->user);
  decision.known_user = user != users_.end();
  // An unknown user is checked against some configured hash anyway, so its
  // answer takes as long as a wrong password's.
  decision.hash = decision.known_user ? user->second : users_.begin()->second;
  decision.key = verification_key(credentials->user, credentials->password, decision.hash);
  if (decision.known_user && cache_.find_and_refresh(decision.key, now)) {
    wipe(credentials->password);
    decision.kind = AuthDecision::Kind::allow;
    decision.hash.clear();
    return decision;
  }
  decision.kind = AuthDecision::Kind::verify;
  decision.password = std::move(credentials->password);
  return decision;
}

bool BasicAuthenticator::finish(const AuthDecision& decision, bool password_matches,
                                Clock::time_point now) {
  const bool allowed = decision.known_user && password_matches;
  if (allowed) cache_.insert(decision.key, now);
  return allowed;
}

void wipe(std::string& secret) noexcept {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace pgvigil::http
