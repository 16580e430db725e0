#pragma once
// The /metrics body as a cache: assembled when a source changed since the
// last request (a round landed, a self-metric tick, a reload), never per
// request, and compressed at most once per body, on a worker thread with one
// deflate state kept for the daemon's life. Requests share the buffers. Every
// call is made on the loop thread; only the compression runs elsewhere.
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/response_body.hpp"

namespace pgvigil {

class MetricsExposition {
 public:
  // Appends the whole body to its argument.
  using Build = std::function<void(std::string&)>;
  using Delivery = http::ResponseText::Delivery;

  // zlib level 1: a scrape body of a large fleet compresses ~3x faster than
  // at the default level and only a few per cent larger.
  static constexpr int kGzipLevel = 1;

  // `loop`: where the calls come from and deliveries run. `compressor`: where
  // the deflate runs (a one-thread pool in the daemon; a test drives it by
  // hand). A 24 MB body takes ~100 ms to compress: not on the loop.
  MetricsExposition(Build build, boost::asio::any_io_executor loop,
                    boost::asio::any_io_executor compressor);
  // Deliveries still waiting are dropped without being called; a compression
  // under way finishes on its thread and is discarded.
  ~MetricsExposition();
  MetricsExposition(const MetricsExposition&) = delete;
  MetricsExposition& operator=(const MetricsExposition&) = delete;

  // Paced builds: a body is reused, though the version moved, until `share`
  // times the time its build took has passed since the build. A large
  // fleet's sources move every millisecond and its body takes tens of ms to
  // assemble; back-to-back scrapers would otherwise keep the loop building.
  // The loop then spends at most 1/share of its time on bodies, and a body
  // is at most that window old (0.3 s for 1000 targets at share 10; well
  // under a millisecond for a few targets). Off until called.
  using Clock = std::chrono::steady_clock;
  void pace_builds(std::function<Clock::time_point()> clock, unsigned share);

  // The body for `version` of the sources (any number that moves whenever a
  // source changes); rebuilt only when the version moved (and, paced, the
  // last body's window has passed).
  std::shared_ptr<const std::string> plain(std::uint64_t version);

  // Delivers the gzip of the body for `version`: at once when it is cached,
  // else on the loop once the worker has compressed it. A request that comes
  // while a compression runs waits for that one, even when the version has
  // moved since it started: it gets the body as of a moment ago (at most
  // one compression old) and a busy fleet is compressed back to back, not
  // once per request. The delivery gets null if compression failed.
  void gzipped(std::uint64_t version, Delivery deliver);

  std::uint64_t builds() const noexcept { return builds_; }
  std::uint64_t compressions() const noexcept;
  std::size_t size() const noexcept { return plain_ ? plain_->size() : 0; }

 private:
  struct Gzip;  // shared with the work on the compressor thread

  Build build_;
  boost::asio::any_io_executor loop_;
  boost::asio::any_io_executor compressor_;
  std::shared_ptr<Gzip> gzip_;
  // Mutable here, const to every reader: a body no response holds any more
  // is rebuilt in its own buffer (a large fleet's is tens of MB: no fresh
  // allocation and page faults per rebuild, no heap churn behind RSS).
  std::shared_ptr<std::string> plain_;
  std::uint64_t plain_version_ = 0;
  std::uint64_t builds_ = 0;
  std::function<Clock::time_point()> clock_;  // unset: not paced
  unsigned share_ = 0;
  Clock::time_point reuse_until_{};
};

}  // namespace pgvigil
