#pragma once
// gzip for HTTP responses (Content-Encoding: gzip) and the Accept-Encoding
// negotiation that decides whether a client gets it.
#include <memory>
#include <string>
#include <string_view>

namespace pgvigil::http {

// Compresses `data` into a complete gzip member (RFC 1952). Throws
// std::runtime_error if zlib fails (in practice only when out of memory).
std::string gzip_compress(std::string_view data);

// The same with one deflate state kept and reset between bodies, so a body
// compressed every few seconds does not allocate zlib's ~270 KB of state
// each time. `level` is zlib's (1 fastest .. 9 smallest).
class GzipCompressor {
 public:
  explicit GzipCompressor(int level);
  ~GzipCompressor();
  GzipCompressor(const GzipCompressor&) = delete;
  GzipCompressor& operator=(const GzipCompressor&) = delete;

  std::string compress(std::string_view data);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// True when an Accept-Encoding header value allows gzip: "gzip" or "x-gzip"
// with a non-zero q, or "*" with a non-zero q when gzip is not listed itself.
// An empty value or a malformed q-value does not allow it.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace pgvigil::http
