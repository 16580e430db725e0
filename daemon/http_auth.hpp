#pragma once
// HTTP basic authentication for the web endpoint ([server.basic_auth]):
// parsing the Authorization header, bcrypt verification through libxcrypt,
// and a cache of successful verifications so that only the first scrape with
// given credentials pays bcrypt's deliberate slowness. Everything here is
// pure or takes the time as an argument; the server decides where the slow
// verify_bcrypt() runs (a worker thread, never the event loop).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil::http {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// Parses an Authorization header value of the form "Basic <base64 user:pass>"
// (scheme case-insensitive). nullopt for any other scheme or malformed value.
std::optional<BasicCredentials> parse_basic_authorization(std::string_view header_value);

// True when `password` matches the bcrypt `hash` ($2a$, $2b$ or $2y$). Slow on
// purpose (about 50-100 ms at cost 10); false for anything that is not a
// usable bcrypt hash. Thread-safe.
bool verify_bcrypt(std::string_view password, std::string_view hash);

// True for the paths load balancers probe (/health, /ready), query ignored.
bool is_health_path(std::string_view target);

// SHA-256 over user, password and the stored hash: what the cache keeps
// instead of the password. Including the stored hash means a changed hash in
// the config can never be satisfied by an old entry.
using CacheKey = std::array<unsigned char, 32>;
CacheKey verification_key(std::string_view user, std::string_view password,
                          std::string_view stored_hash);

// Remembers successful verifications for a while. Lookups compare every
// stored key in constant time (CRYPTO_memcmp), so neither a hit nor its
// position is visible in the timing.
class VerificationCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit VerificationCache(std::chrono::seconds time_to_live = std::chrono::minutes(10),
                             std::size_t capacity = 128);

  bool contains(const CacheKey& key, Clock::time_point now) const;
  // contains(), and a hit lives time_to_live from now: a scraper that keeps
  // scraping never needs bcrypt again.
  bool find_and_refresh(const CacheKey& key, Clock::time_point now);
  // Adds or refreshes `key`; the entry expiring first makes room when full.
  void insert(const CacheKey& key, Clock::time_point now);
  void clear();
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    CacheKey key;
    Clock::time_point expires;
  };
  std::chrono::seconds time_to_live_;
  std::size_t capacity_;
  std::vector<Entry> entries_;
};

// Password checks waiting for the one bcrypt worker, served in turn across
// client addresses: each address with something waiting gets one check per
// round, and at most `per_client` of its checks wait at once. A flood of
// wrong passwords from some addresses then delays a scraper elsewhere by
// one check per flooding address, instead of filling every slot.
template <typename Job>
class FairVerificationQueue {
 public:
  FairVerificationQueue(std::size_t per_client, std::size_t total)
      : per_client_(std::max<std::size_t>(per_client, 1)),
        total_(std::max<std::size_t>(total, 1)) {}

  // False when `client` already has per_client waiting, or all are taken.
  bool push(const std::string& client, Job job) {
    if (size_ >= total_) return false;
    auto& mine = waiting_[client];
    if (mine.size() >= per_client_) return false;
    if (mine.empty()) turns_.push_back(client);
    mine.push_back(std::move(job));
    ++size_;
    return true;
  }

  // The next check: the oldest of the client whose turn it is.
  std::optional<Job> pop() {
    if (turns_.empty()) return std::nullopt;
    const std::string client = std::move(turns_.front());
    turns_.pop_front();
    auto found = waiting_.find(client);
    Job job = std::move(found->second.front());
    found->second.pop_front();
    --size_;
    if (found->second.empty()) {
      waiting_.erase(found);
    } else {
      turns_.push_back(client);
    }
    return job;
  }

  std::size_t size() const noexcept { return size_; }
  void clear() {
    waiting_.clear();
    turns_.clear();
    size_ = 0;
  }

 private:
  std::size_t per_client_;
  std::size_t total_;
  std::size_t size_ = 0;
  std::map<std::string, std::deque<Job>> waiting_;
  std::deque<std::string> turns_;  // clients with checks waiting, next first
};

// What to do with one request.
struct AuthDecision {
  enum class Kind {
    allow,   // no auth configured, exempt path, or a cached success
    deny,    // missing or unusable credentials: answer 401 at once
    verify,  // run verify_bcrypt(password, hash) off the loop, then finish()
  };
  Kind kind = Kind::deny;
  // For `verify` only:
  std::string password;
  std::string hash;
  bool known_user = false;  // an unknown user is verified too (same timing), then denied
  CacheKey key{};
};

// The [server.basic_auth] policy for the server: which paths need
// credentials, and the cache. Lives on the event loop's thread.
class BasicAuthenticator {
 public:
  using Clock = VerificationCache::Clock;

  BasicAuthenticator() = default;
  // `users`: user -> bcrypt hash. No users: authentication is off.
  BasicAuthenticator(std::map<std::string, std::string> users, bool exempt_health,
                     VerificationCache cache = VerificationCache());

  bool enabled() const noexcept { return !users_.empty(); }

  // `authorization`: the request's Authorization header value ("" if absent).
  AuthDecision check(std::string_view target, std::string_view authorization,
                     Clock::time_point now);
  // Completes a `verify` decision with verify_bcrypt()'s answer; remembers a
  // success. Returns whether the request may proceed.
  bool finish(const AuthDecision& decision, bool password_matches, Clock::time_point now);

 private:
  std::map<std::string, std::string, std::less<>> users_;
  bool exempt_health_ = true;
  VerificationCache cache_;
};

// Overwrites a string's bytes before it is released (passwords).
void wipe(std::string& secret) noexcept;

}  // namespace pgvigil::http
