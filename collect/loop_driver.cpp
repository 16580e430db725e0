#include "collect/loop_driver.hpp"

#include <boost/asio/post.hpp>

#include <stdexcept>

namespace pgvigil::collect {

LoopDriver::LoopDriver(boost::asio::io_context& io, Scheduler& scheduler, LoopDriverOptions options)
    : scheduler_(scheduler), timer_(io), max_tick_(options.max_tick), coalesce_(options.coalesce) {
  if (max_tick_ <= Clock::duration::zero()) {
    throw std::invalid_argument("loop driver: max_tick must be positive");
  }
  if (coalesce_ < Clock::duration::zero()) {
    throw std::invalid_argument("loop driver: coalesce must not be negative");
  }
}

LoopDriver::~LoopDriver() {
  stop();
  alive_.reset();
}

void LoopDriver::start() {
  if (running()) return;
  running_.store(true, std::memory_order_relaxed);
  ++generation_;
  scheduler_.on_early_run([this] { wake_soon(); });
  beat(Clock::now());
  arm();
}

void LoopDriver::stop() {
  if (!running()) return;
  running_.store(false, std::memory_order_relaxed);
  ++generation_;
  scheduler_.on_early_run(nullptr);
  timer_.cancel();
}

void LoopDriver::wake_soon() {
  if (!running() || wake_posted_) return;
  wake_posted_ = true;
  // Posted, not run here: the caller is in the middle of its own work.
  boost::asio::post(timer_.get_executor(),
                    [this, alive = std::weak_ptr<int>(alive_), generation = generation_] {
                      if (alive.expired()) return;
                      wake_posted_ = false;
                      on_wake(generation);  // re-arming cancels the planned wait
                    });
}

LoopDriver::Clock::time_point LoopDriver::last_heartbeat() const noexcept {
  return Clock::time_point(Clock::duration(heartbeat_.load(std::memory_order_relaxed)));
}

bool LoopDriver::healthy(Clock::time_point now, Clock::duration max_stall) const noexcept {
  return running() && now - last_heartbeat() <= max_stall;
}

void LoopDriver::beat(Clock::time_point now) noexcept {
  heartbeat_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

void LoopDriver::arm() {
  auto wake_at = Clock::now() + max_tick_;
  if (const auto due = scheduler_.next_due(); due && *due < wake_at) wake_at = *due;
  if (coalesce_ > Clock::duration::zero()) {
    const auto past_grid = wake_at.time_since_epoch() % coalesce_;
    if (past_grid > Clock::duration::zero()) wake_at += coalesce_ - past_grid;
  }
  timer_.expires_at(wake_at);
  timer_.async_wait([this, alive = std::weak_ptr<int>(alive_),
                     generation = generation_](const boost::system::error_code& error) {
    if (alive.expired() || error) return;  // destroyed, or cancelled by stop()
    on_wake(generation);
  });
}

void LoopDriver::on_wake(std::uint64_t generation) {
  if (!running() || generation != generation_) return;
  const auto now = Clock::now();
  wakes_.fetch_add(1, std::memory_order_relaxed);
  beat(now);
  scheduler_.advance(now);
  // A job may have stopped the driver from inside advance().
  if (running() && generation == generation_) arm();
}

}  // namespace pgvigil::collect
