#include "daemon/metrics_exposition.hpp"

#include <boost/asio/post.hpp>

#include <utility>
#include <vector>

#include "daemon/gzip.hpp"

namespace pgvigil {

struct MetricsExposition::Gzip {
  // Touched only by the compression, one at a time.
  http::GzipCompressor compressor{kGzipLevel};
  // Loop thread only.
  std::shared_ptr<const std::string> body;
  std::uint64_t version = 0;
  bool running = false;
  bool closed = false;  // the exposition is gone: deliver nothing more
  std::vector<Delivery> waiting;
  std::uint64_t compressions = 0;
};

MetricsExposition::MetricsExposition(Build build, boost::asio::any_io_executor loop,
                                     boost::asio::any_io_executor compressor)
    : build_(std::move(build)),
      loop_(std::move(loop)),
      compressor_(std::move(compressor)),
      gzip_(std::make_shared<Gzip>()) {}

MetricsExposition::~MetricsExposition() {
  gzip_->closed = true;
  gzip_->waiting.clear();
}

std::uint64_t MetricsExposition::compressions() const noexcept {
  return gzip_->compressions;
}

void MetricsExposition::pace_builds(std::function<Clock::time_point()> clock, unsigned share) {
  clock_ = std::move(clock);
  share_ = share;
}

std::shared_ptr<const std::string> MetricsExposition::plain(std::uint64_t version) {
  if (plain_ && plain_version_ == version) return plain_;
  const auto started = clock_ ? clock_() : Clock::time_point{};
  if (plain_ && clock_ && started < reuse_until_) return plain_;
  std::shared_ptr<std::string> body;
  if (plain_ && plain_.use_count() == 1) {
    body = std::move(plain_);
    body->clear();  // keeps the capacity
  } else {
    body = std::make_shared<std::string>();
    // The last body's size is a good guess for the next one.
    if (plain_) body->reserve(plain_->size() + plain_->size() / 8);
  }
  build_(*body);
  plain_ = std::move(body);
  plain_version_ = version;
  ++builds_;
  if (clock_) {
    const auto finished = clock_();
    reuse_until_ = finished + (finished - started) * share_;
  }
  return plain_;
}

void MetricsExposition::gzipped(std::uint64_t version, Delivery deliver) {
  Gzip& gzip = *gzip_;
  if (gzip.running) return gzip.waiting.push_back(std::move(deliver));
  // The gzip of the body plain() would serve now (paced, that can be an
  // earlier version's).
  auto body = plain(version);
  version = plain_version_;
  if (gzip.body && gzip.version == version) return deliver(gzip.body);
  gzip.waiting.push_back(std::move(deliver));
  // The worker holds this body while it reads it, so plain() builds the next
  // one in a fresh buffer meanwhile.
  gzip.running = true;
  boost::asio::post(
      compressor_, [state = gzip_, body = std::move(body), version, loop = loop_]() mutable {
        std::shared_ptr<const std::string> zipped;
        try {
          zipped = std::make_shared<const std::string>(state->compressor.compress(*body));
        } catch (...) {
          // Out of memory (zlib or the buffer): the waiting requests get a 500.
        }
        // Everything else happens on the loop, including letting go of `body`.
        boost::asio::post(loop, [state = std::move(state), body = std::move(body),
                                 zipped = std::move(zipped), version]() {
          state->running = false;
          if (state->closed) return;
          if (zipped) {
            state->body = zipped;
            state->version = version;
            ++state->compressions;
          }
          auto waiting = std::move(state->waiting);
          state->waiting.clear();
          for (auto& waiter : waiting) waiter(zipped);
        });
      });
}

}  // namespace pgvigil
