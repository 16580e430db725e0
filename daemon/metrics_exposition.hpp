#pragma once
// The /metrics body as a cache: assembled when a source changed since the
// last request (a round landed, a self-metric tick, a reload), never per
// request, and compressed at most once per body with one deflate state kept
// for the daemon's life. Requests share the buffers. Loop thread only.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/gzip.hpp"

namespace pgvigil {

class MetricsExposition {
 public:
  // Appends the whole body to its argument.
  using Build = std::function<void(std::string&)>;

  // zlib level 1: a scrape body of a large fleet compresses ~3x faster than
  // at the default level and only a few per cent larger.
  static constexpr int kGzipLevel = 1;

  explicit MetricsExposition(Build build) : build_(std::move(build)), compressor_(kGzipLevel) {}

  // The body for `version` of the sources (any number that moves whenever a
  // source changes); rebuilt only when the version moved.
  std::shared_ptr<const std::string> plain(std::uint64_t version);
  // Its gzip member, compressed once per body.
  std::shared_ptr<const std::string> gzipped(std::uint64_t version);

  std::uint64_t builds() const noexcept { return builds_; }
  std::uint64_t compressions() const noexcept { return compressions_; }
  std::size_t size() const noexcept { return plain_ ? plain_->size() : 0; }

 private:
  Build build_;
  http::GzipCompressor compressor_;
  // Mutable here, const to every reader: a body no response holds any more
  // is rebuilt in its own buffer (a large fleet's is tens of MB: no fresh
  // allocation and page faults per rebuild, no heap churn behind RSS).
  std::shared_ptr<std::string> plain_;
  std::shared_ptr<const std::string> gzipped_;
  std::uint64_t plain_version_ = 0;
  std::uint64_t gzipped_version_ = 0;
  std::uint64_t builds_ = 0;
  std::uint64_t compressions_ = 0;
};

}  // namespace pgvigil
