#include "daemon/metrics_exposition.hpp"

#include <boost/asio/post.hpp>

#include <utility>

#include "daemon/gzip.hpp"

namespace pgvigil {

struct MetricsExposition::Shared {
  // Touched only by the compression, one at a time.
  http::GzipCompressor compressor{kGzipLevel};
  // Loop thread only.
  bool closed = false;  // the exposition is gone: deliver nothing more
  bool building = false;
  std::vector<BodyDelivery> body_waiting;
  bool gzipping = false;  // a gzip is on its way (its body or its deflate)
  std::vector<Delivery> gzip_waiting;
  std::shared_ptr<const std::string> gzip_body;
  std::uint64_t gzip_version = 0;
  std::uint64_t compressions = 0;
};

MetricsExposition::MetricsExposition(Build build, boost::asio::any_io_executor loop,
                                     boost::asio::any_io_executor worker)
    : build_(std::move(build)),
      loop_(std::move(loop)),
      worker_(std::move(worker)),
      shared_(std::make_shared<Shared>()) {}

MetricsExposition::~MetricsExposition() {
  shared_->closed = true;
  shared_->body_waiting.clear();
  shared_->gzip_waiting.clear();
}

std::uint64_t MetricsExposition::compressions() const noexcept {
  return shared_->compressions;
}

void MetricsExposition::pace_builds(std::function<Clock::time_point()> clock, unsigned share) {
  clock_ = std::move(clock);
  share_ = share;
}

void MetricsExposition::assemble_off_loop(Clock::duration above, Clock::duration max_age) {
  off_loop_ = true;
  off_loop_above_ = above;
  max_age_ = max_age;
}

void MetricsExposition::plain(std::uint64_t version, Delivery deliver) {
  with_body(version, [deliver = std::move(deliver)](std::shared_ptr<const std::string> body,
                                                    std::uint64_t) { deliver(std::move(body)); });
}

bool MetricsExposition::young(Clock::time_point now) const {
  return plain_ && now - built_at_ <= max_age_;
}

void MetricsExposition::with_body(std::uint64_t version, BodyDelivery deliver) {
  if (plain_ && plain_version_ == version) return deliver(plain_, plain_version_);
  const auto now = clock_ ? clock_() : Clock::time_point{};
  if (shared_->building) {
    if (young(now)) return deliver(plain_, plain_version_);
    return shared_->body_waiting.push_back(std::move(deliver));
  }
  if (plain_ && clock_ && now < reuse_until_) return deliver(plain_, plain_version_);
  if (!off_loop_ || !clock_ || !plain_ || last_build_ < off_loop_above_) {
    build_here(version);
    return deliver(plain_, plain_version_);
  }
  build_on_worker(version);
  if (young(now)) return deliver(plain_, plain_version_);
  shared_->body_waiting.push_back(std::move(deliver));
}

void MetricsExposition::record_build(Clock::time_point started, Clock::time_point finished) {
  ++builds_;
  built_at_ = started;
  last_build_ = finished - started;
  reuse_until_ = finished + last_build_ * share_;
}

void MetricsExposition::build_here(std::uint64_t version) {
  const auto started = clock_ ? clock_() : Clock::time_point{};
  std::shared_ptr<std::string> body;
  if (plain_ && plain_.use_count() == 1) {
    body = std::move(plain_);
    body->clear();  // keeps the capacity
  } else {
    body = std::make_shared<std::string>();
    // The last body's size is a good guess for the next one.
    if (plain_) body->reserve(plain_->size() + plain_->size() / 8);
  }
  build_()(*body);
  plain_ = std::move(body);
  plain_version_ = version;
  record_build(started, clock_ ? clock_() : started);
}

void MetricsExposition::build_on_worker(std::uint64_t version) {
  shared_->building = true;
  const auto started = clock_();
  const std::size_t hint = plain_ ? plain_->size() + plain_->size() / 8 : 0;
  // A body too old to serve meanwhile, held by no response, lends its buffer
  // (no second body of tens of MB, as when the build ran here). A young one
  // is served while the new one is assembled in a buffer of its own.
  std::shared_ptr<std::string> buffer;
  if (plain_ && !young(started) && plain_.use_count() == 1) buffer = std::move(plain_);
  boost::asio::post(worker_, [this, shared = shared_, assemble = build_(), buffer, hint, version,
                              started, clock = clock_, loop = loop_]() mutable {
    // The buffer is this thread's alone until it is handed back; its page
    // faults land here, not on the loop.
    std::shared_ptr<std::string> body = std::move(buffer);
    try {
      if (body) {
        body->clear();  // keeps the capacity
      } else {
        body = std::make_shared<std::string>();
        body->reserve(hint);
      }
      assemble(*body);
    } catch (...) {
      body.reset();  // out of memory: the waiting requests get the old body or a 500
    }
    const auto finished = clock();
    // The sources' texts are let go of on the loop, where the store checks
    // whether anyone still holds them before it writes one in place.
    boost::asio::post(loop, [this, shared = std::move(shared), body = std::move(body),
                             assemble = std::move(assemble), version, started, finished]() mutable {
      assemble = nullptr;
      shared->building = false;
      if (shared->closed) return;  // `this` is gone
      built_on_worker(std::move(body), version, started, finished);
    });
  });
}

void MetricsExposition::built_on_worker(std::shared_ptr<std::string> body, std::uint64_t version,
                                        Clock::time_point started, Clock::time_point finished) {
  if (body) {
    plain_ = std::move(body);
    plain_version_ = version;
    record_build(started, finished);
  }
  auto waiting = std::move(shared_->body_waiting);
  shared_->body_waiting.clear();
  for (auto& waiter : waiting) waiter(plain_, plain_version_);
}

void MetricsExposition::gzipped(std::uint64_t version, Delivery deliver) {
  Shared& shared = *shared_;
  shared.gzip_waiting.push_back(std::move(deliver));
  if (shared.gzipping) return;
  shared.gzipping = true;
  with_body(version, [this](std::shared_ptr<const std::string> body, std::uint64_t body_version) {
    Shared& state = *shared_;
    if (body && !(state.gzip_body && state.gzip_version == body_version))
      return compress(std::move(body), body_version);
    // The gzip of this body is cached (or there is no body: a 500).
    state.gzipping = false;
    auto waiting = std::move(state.gzip_waiting);
    state.gzip_waiting.clear();
    for (auto& waiter : waiting) waiter(body ? state.gzip_body : nullptr);
  });
}

void MetricsExposition::compress(std::shared_ptr<const std::string> body, std::uint64_t version) {
  // The worker holds this body while it reads it, so a build on the loop
  // meanwhile goes to a fresh buffer.
  boost::asio::post(
      worker_, [state = shared_, body = std::move(body), version, loop = loop_]() mutable {
        std::shared_ptr<const std::string> zipped;
        try {
          zipped = std::make_shared<const std::string>(state->compressor.compress(*body));
        } catch (...) {
          // Out of memory (zlib or the buffer): the waiting requests get a 500.
        }
        // Everything else happens on the loop, including letting go of `body`.
        boost::asio::post(loop, [state = std::move(state), body = std::move(body),
                                 zipped = std::move(zipped), version]() {
          state->gzipping = false;
          if (state->closed) return;
          if (zipped) {
            state->gzip_body = zipped;
            state->gzip_version = version;
            ++state->compressions;
          }
          auto waiting = std::move(state->gzip_waiting);
          state->gzip_waiting.clear();
          for (auto& waiter : waiting) waiter(zipped);
        });
      });
}

}  // namespace pgvigil
