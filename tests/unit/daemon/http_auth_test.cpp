// Basic auth as pure logic: header parsing, bcrypt through libxcrypt (hashes
// made at test time with crypt_gensalt), the verification cache on a fake
// clock, and the authenticator's decisions.
#include "daemon/http_auth.hpp"

#include <crypt.h>
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace {

using pgvigil::http::AuthDecision;
using pgvigil::http::BasicAuthenticator;
using pgvigil::http::parse_basic_authorization;
using pgvigil::http::verification_key;
using pgvigil::http::VerificationCache;
using pgvigil::http::verify_bcrypt;
using namespace std::chrono_literals;

// A fresh bcrypt hash of `password` with the given prefix ("$2b$", "$2y$"...).
std::string bcrypt_hash(const std::string& password, const char* prefix = "$2b$",
                        unsigned long cost = 4) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE] = {};
  REQUIRE(crypt_gensalt_rn(prefix, cost, nullptr, 0, salt, sizeof salt) != nullptr);
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_r(password.c_str(), salt, data.get());
  REQUIRE(hash != nullptr);
  REQUIRE(hash[0] == '$');
  return hash;
}

std::string base64(const std::string& text) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(text[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(text[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(text[i + 2]));
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == text.size()) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(text[i])) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == text.size()) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(text[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(text[i + 1])) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + base64(user + ":" + password);
}

}  // namespace

TEST_CASE("parse_basic_authorization accepts RFC 7617 values and rejects the rest") {
  auto parsed = parse_basic_authorization(basic("prometheus", "s3cret:with:colons"));
  REQUIRE(parsed.has_value());
  CHECK(parsed->user == "prometheus");
  CHECK(parsed->password == "s3cret:with:colons");  // only the first ':' splits

  parsed = parse_basic_authorization("  basic   " + base64("a:") + " ");
  REQUIRE(parsed.has_value());
  CHECK(parsed->user == "a");
  CHECK(parsed->password.empty());

  for (const std::string& bad : std::vector<std::string>{
           "", "Basic", "Basic ", "Bearer " + base64("a:b"), "Basic " + base64("no-colon"),
           "Basic not*base64", "Basic YWJj", "Basic YQ=", "Basic Y===", "Basic =YWJ"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_basic_authorization(bad).has_value());
  }
}

TEST_CASE("verify_bcrypt checks $2b$, $2y$ and $2a$ hashes and refuses non-bcrypt input") {
  for (const char* prefix : {"$2b$", "$2y$", "$2a$"}) {
    CAPTURE(prefix);
    const std::string hash = bcrypt_hash("correct horse", prefix);
    CHECK(hash.substr(0, 4) == prefix);
    CHECK(verify_bcrypt("correct horse", hash));
    CHECK_FALSE(verify_bcrypt("correct hors", hash));
    CHECK_FALSE(verify_bcrypt("correct horse ", hash));
    CHECK_FALSE(verify_bcrypt("", hash));
  }
  const std::string hash = bcrypt_hash("pw");
  CHECK_FALSE(verify_bcrypt(std::string("pw\0tail", 7), hash));  // no NUL truncation
  CHECK_FALSE(verify_bcrypt("pw", ""));
  CHECK_FALSE(verify_bcrypt("pw", "pw"));  // a plaintext "hash" never matches itself
  CHECK_FALSE(verify_bcrypt("pw", hash.substr(0, 59)));
  // A DES or SHA-512 crypt hash is not accepted, even when it matches.
  auto data = std::make_unique<crypt_data>();
  const std::string sha512 = crypt_r("pw", "$6$saltsalt$", data.get());
  CHECK_FALSE(verify_bcrypt("pw", sha512));
  // A tampered hash fails instead of crashing.
  std::string broken = hash;
  broken[4] = 'x';
  CHECK_FALSE(verify_bcrypt("pw", broken));
}

TEST_CASE("verification keys depend on user, password and stored hash") {
  const auto key = verification_key("u", "p", "h");
  CHECK(key == verification_key("u", "p", "h"));
  CHECK(key != verification_key("u", "p", "h2"));
  CHECK(key != verification_key("u", "p2", "h"));
  CHECK(key != verification_key("u2", "p", "h"));
  // The separator keeps "ab"+"c" apart from "a"+"bc".
  CHECK(verification_key("ab", "c", "h") != verification_key("a", "bc", "h"));
}

TEST_CASE("the verification cache expires entries and stays within its capacity") {
  const auto t0 = VerificationCache::Clock::time_point{} + 1000h;
  VerificationCache cache(60s, 3);
  const auto a = verification_key("a", "1", "h");
  const auto b = verification_key("b", "1", "h");
  const auto c = verification_key("c", "1", "h");
  const auto d = verification_key("d", "1", "h");
  CHECK_FALSE(cache.contains(a, t0));
  cache.insert(a, t0);
  CHECK(cache.contains(a, t0 + 59s));
  CHECK_FALSE(cache.contains(a, t0 + 60s));
  CHECK_FALSE(cache.contains(b, t0));

  cache.insert(b, t0 + 1s);
  cache.insert(c, t0 + 2s);
  cache.insert(a, t0 + 3s);  // refreshes a: no duplicate
  CHECK(cache.size() == 3);
  cache.insert(d, t0 + 4s);  // full: b expires first and makes room
  CHECK(cache.size() == 3);
  CHECK_FALSE(cache.contains(b, t0 + 4s));
  CHECK(cache.contains(a, t0 + 62s));
  CHECK(cache.contains(c, t0 + 4s));
  CHECK(cache.contains(d, t0 + 4s));
  cache.clear();
  CHECK_FALSE(cache.contains(d, t0 + 4s));
}

TEST_CASE("the authenticator allows, denies, or asks for a verification") {
  const auto t0 = BasicAuthenticator::Clock::time_point{} + 1000h;
  const std::string hash = bcrypt_hash("right");
  BasicAuthenticator auth({{"prom", hash}, {"other", bcrypt_hash("else")}}, true,
                          VerificationCache(60s, 8));
  REQUIRE(auth.enabled());

  SUBCASE("health paths are open when exempt, everything else needs credentials") {
    CHECK(auth.check("/health", "", t0).kind == AuthDecision::Kind::allow);
    CHECK(auth.check("/ready?verbose=1", "", t0).kind == AuthDecision::Kind::allow);
    CHECK(auth.check("/metrics", "", t0).kind == AuthDecision::Kind::deny);
    CHECK(auth.check("/", "", t0).kind == AuthDecision::Kind::deny);
    CHECK(auth.check("/healthz", "", t0).kind == AuthDecision::Kind::deny);
    CHECK(auth.check("/metrics", "Bearer x", t0).kind == AuthDecision::Kind::deny);

    BasicAuthenticator strict({{"prom", hash}}, false);
    CHECK(strict.check("/health", "", t0).kind == AuthDecision::Kind::deny);
  }

  SUBCASE("a correct password is verified once, then served from the cache") {
    auto decision = auth.check("/metrics", basic("prom", "right"), t0);
    REQUIRE(decision.kind == AuthDecision::Kind::verify);
    CHECK(decision.known_user);
    CHECK(decision.hash == hash);
    CHECK(auth.finish(decision, verify_bcrypt(decision.password, decision.hash), t0));
    CHECK(auth.check("/metrics", basic("prom", "right"), t0 + 30s).kind ==
          AuthDecision::Kind::allow);
    // A different password is not covered by the cached success.
    auto wrong = auth.check("/metrics", basic("prom", "wrong"), t0 + 30s);
    REQUIRE(wrong.kind == AuthDecision::Kind::verify);
    CHECK_FALSE(auth.finish(wrong, verify_bcrypt(wrong.password, wrong.hash), t0 + 30s));
    // Each hit keeps the entry for another time to live (60 s here): a
    // scraper that keeps scraping is never sent back to bcrypt.
    CHECK(auth.check("/metrics", basic("prom", "right"), t0 + 85s).kind ==
          AuthDecision::Kind::allow);
    CHECK(auth.check("/metrics", basic("prom", "right"), t0 + 140s).kind ==
          AuthDecision::Kind::allow);
    // Unused for longer than the time to live: the full verification again.
    CHECK(auth.check("/metrics", basic("prom", "right"), t0 + 201s).kind ==
          AuthDecision::Kind::verify);
  }

  SUBCASE("failures are not cached and unknown users are denied after a verification") {
    auto wrong = auth.check("/metrics", basic("prom", "wrong"), t0);
    REQUIRE(wrong.kind == AuthDecision::Kind::verify);
    CHECK_FALSE(auth.finish(wrong, false, t0));
    CHECK(auth.check("/metrics", basic("prom", "wrong"), t0).kind == AuthDecision::Kind::verify);

    auto stranger = auth.check("/metrics", basic("mallory", "right"), t0);
    REQUIRE(stranger.kind == AuthDecision::Kind::verify);
    CHECK_FALSE(stranger.known_user);
    // Even a password that matches the hash it was checked against is refused.
    CHECK_FALSE(auth.finish(stranger, true, t0));
    CHECK(auth.check("/metrics", basic("mallory", "right"), t0).kind == AuthDecision::Kind::verify);
  }

  SUBCASE("no users: authentication is off") {
    BasicAuthenticator off;
    CHECK_FALSE(off.enabled());
    CHECK(off.check("/metrics", "", t0).kind == AuthDecision::Kind::allow);
  }
}

TEST_CASE("bcrypt at cost 10 is slow enough that it must stay off the event loop") {
  const std::string hash = bcrypt_hash("pw", "$2y$", 10);
  const auto started = std::chrono::steady_clock::now();
  CHECK(verify_bcrypt("pw", hash));
  // The reason for the worker thread and the cache: a visible pause per check.
  CHECK(std::chrono::steady_clock::now() - started > 5ms);
}

TEST_CASE("password checks take turns by client address") {
  pgvigil::http::FairVerificationQueue<std::string> queue(/*per_client=*/2, /*total=*/5);
  CHECK(queue.push("10.0.0.9", "flood-1"));
  CHECK(queue.push("10.0.0.9", "flood-2"));
  CHECK_FALSE(queue.push("10.0.0.9", "flood-3"));  // its own limit
  CHECK(queue.push("10.0.0.1", "scraper"));
  CHECK(queue.push("10.0.0.2", "other-1"));
  CHECK(queue.push("10.0.0.2", "other-2"));
  CHECK_FALSE(queue.push("10.0.0.3", "late"));  // all five taken
  CHECK(queue.size() == 5);
  // One per address per round, oldest first within an address.
  std::vector<std::string> order;
  while (auto job = queue.pop()) order.push_back(*job);
  CHECK(order == std::vector<std::string>{"flood-1", "scraper", "other-1", "flood-2", "other-2"});
  CHECK(queue.size() == 0);
  CHECK(queue.push("10.0.0.9", "again"));
  queue.clear();
  CHECK_FALSE(queue.pop().has_value());
}
