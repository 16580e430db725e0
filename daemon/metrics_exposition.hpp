#pragma once
// The /metrics body as a cache: assembled when a source changed since the
// last request (a round landed, a self-metric tick, a reload), never per
// request, and compressed at most once per body, on a worker thread with one
// deflate state kept for the daemon's life. Requests share the buffers. Every
// call is made on the loop thread; assembly of a large body and every
// compression run elsewhere.
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/response_body.hpp"

namespace pgvigil {

class MetricsExposition {
 public:
  // Appends the whole body to its argument; may run on the worker thread, so
  // it reads only what it holds (a MetricsStore::TextParts, a shared tail).
  using Assemble = std::function<void(std::string&)>;
  // Called on the loop: takes hold of the sources as they are now (cheap) and
  // returns their assembly.
  using Build = std::function<Assemble()>;
  using Delivery = http::ResponseText::Delivery;
  using Clock = std::chrono::steady_clock;

  // zlib level 1: a scrape body of a large fleet compresses ~3x faster than
  // at the default level and only a few per cent larger.
  static constexpr int kGzipLevel = 1;

  // `loop`: where the calls come from and deliveries run. `worker`: where
  // off-loop assembly and the deflate run (a one-thread pool in the daemon; a
  // test drives it by hand). A 24 MB body takes ~100 ms to compress and tens
  // of ms to assemble: not on the loop.
  MetricsExposition(Build build, boost::asio::any_io_executor loop,
                    boost::asio::any_io_executor worker);
  // Deliveries still waiting are dropped without being called; work under
  // way finishes on its thread and is discarded.
  ~MetricsExposition();
  MetricsExposition(const MetricsExposition&) = delete;
  MetricsExposition& operator=(const MetricsExposition&) = delete;

  // Paced builds: a body is reused, though the version moved, until `share`
  // times the time its build took has passed since the build. A large
  // fleet's sources move every millisecond and its body takes tens of ms to
  // assemble; back-to-back scrapers would otherwise keep building. A body is
  // then at most that window old (0.3 s for 1000 targets at share 10; well
  // under a millisecond for a few targets). Off until called.
  void pace_builds(std::function<Clock::time_point()> clock, unsigned share);
  // Off-loop assembly (needs pace_builds): once a build has taken at least
  // `above`, the next ones run on the worker, and requests that come
  // meanwhile get the current body at once if it is at most `max_age` old
  // (counted from when its build started), else wait for the new one. A
  // small fleet's build stays on the loop: a thread hop would cost more.
  void assemble_off_loop(Clock::duration above, Clock::duration max_age);

  // Delivers the body for `version` of the sources (any number that moves
  // whenever a source changes): at once when it is cached, reusable (paced,
  // or young enough while a new one is assembled) or cheap to build here;
  // else on the loop once the worker has assembled it. Null if assembly
  // failed and there is no earlier body.
  void plain(std::uint64_t version, Delivery deliver);

  // Delivers the gzip of the body plain() would deliver: at once when it is
  // cached, else on the loop once the worker has compressed it. A request that
  // comes while a gzip is on its way waits for that one, even when the
  // version has moved since it started: it gets the body as of a moment ago
  // (at most one compression old) and a busy fleet is compressed back to
  // back, not once per request. The delivery gets null if compression failed.
  void gzipped(std::uint64_t version, Delivery deliver);

  std::uint64_t builds() const noexcept { return builds_; }
  std::uint64_t compressions() const noexcept;
  std::size_t size() const noexcept { return plain_ ? plain_->size() : 0; }

 private:
  struct Shared;  // shared with the work on the worker thread
  using BodyDelivery = std::function<void(std::shared_ptr<const std::string>, std::uint64_t)>;

  void with_body(std::uint64_t version, BodyDelivery deliver);
  void build_here(std::uint64_t version);
  void build_on_worker(std::uint64_t version);
  void built_on_worker(std::shared_ptr<std::string> body, std::uint64_t version,
                       Clock::time_point started, Clock::time_point finished);
  void compress(std::shared_ptr<const std::string> body, std::uint64_t version);
  void record_build(Clock::time_point started, Clock::time_point finished);
  bool young(Clock::time_point now) const;

  Build build_;
  boost::asio::any_io_executor loop_;
  boost::asio::any_io_executor worker_;
  std::shared_ptr<Shared> shared_;
  // Mutable here, const to every reader: a body no response holds any more
  // is rebuilt in its own buffer (a large fleet's is tens of MB: no fresh
  // allocation and page faults per rebuild, no heap churn behind RSS).
  std::shared_ptr<std::string> plain_;
  std::uint64_t plain_version_ = 0;
  std::uint64_t builds_ = 0;
  std::function<Clock::time_point()> clock_;  // unset: not paced
  unsigned share_ = 0;
  Clock::time_point reuse_until_{};
  Clock::time_point built_at_{};  // when the current body's build started
  Clock::duration last_build_{};
  bool off_loop_ = false;
  Clock::duration off_loop_above_{};
  Clock::duration max_age_{};
};

}  // namespace pgvigil
