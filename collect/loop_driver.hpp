#pragma once
// LoopDriver: drives a Scheduler from a Boost.Asio io_context. It sleeps on a
// steady_timer until the scheduler's next due time (but never longer than
// max_tick, so the heartbeat keeps beating when nothing is due), then calls
// advance(now) with the real steady clock.
//
// Wakes are rounded up to a grid of `coalesce`: a thousand targets' jobs,
// spread over each second, then fire a few dozen at a time instead of one
// per wake, and the loop sleeps 100 times a second instead of over 1,000 (each
// wake is a timer expiry, an epoll return and a context switch). A job runs
// at most `coalesce` late. A run_soon() made outside advance() (the first
// round after a connect, which holds one of the connect gate's few slots
// while it waits) is not held to the grid or to max_tick: the driver is told
// and advances at once.
//
// The heartbeat is what /health looks at: if a handler blocks the loop, the
// heartbeat stops moving and healthy() turns false.
//
// start() and stop() are called on the loop's thread (or while the loop is
// not running); last_heartbeat(), healthy() and wakes() may be read from any
// thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "collect/scheduler.hpp"

namespace pgvigil::collect {

struct LoopDriverOptions {
  // Longest sleep between two wakes, whatever the schedule says.
  std::chrono::steady_clock::duration max_tick = std::chrono::milliseconds(250);
  // The grid wakes are rounded up to (the scheduler's wheel tick); 0: none.
  std::chrono::steady_clock::duration coalesce = std::chrono::milliseconds(10);
};

class LoopDriver {
 public:
  using Clock = std::chrono::steady_clock;

  // Both references must outlive the driver. Throws std::invalid_argument for
  // a non-positive max_tick or a negative coalesce.
  LoopDriver(boost::asio::io_context& io, Scheduler& scheduler, LoopDriverOptions options = {});
  ~LoopDriver();
  LoopDriver(const LoopDriver&) = delete;
  LoopDriver& operator=(const LoopDriver&) = delete;

  void start();  // beats the heartbeat once and arms the timer; no-op if running
  void stop();   // cancels the pending wait; no-op if stopped
  bool running() const noexcept { return running_.load(std::memory_order_relaxed); }

  Clock::time_point last_heartbeat() const noexcept;
  // True while running and the last wake is at most max_stall before `now`.
  bool healthy(Clock::time_point now, Clock::duration max_stall) const noexcept;
  // How often the loop woke up since construction (diagnostics, tests).
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }

 private:
  void arm();
  void on_wake(std::uint64_t generation);
  void wake_soon();
  void beat(Clock::time_point now) noexcept;

  Scheduler& scheduler_;
  boost::asio::steady_timer timer_;
  Clock::duration max_tick_;
  Clock::duration coalesce_;
  std::atomic<bool> running_{false};
  std::atomic<Clock::rep> heartbeat_{0};  // Clock ticks since its epoch
  std::atomic<std::uint64_t> wakes_{0};
  // A wait armed before the latest stop()/start() belongs to an older
  // generation and must not re-arm.
  std::uint64_t generation_ = 0;
  bool wake_posted_ = false;  // one early wake in the queue at a time
  // Expires with the driver: a completion already queued when the driver is
  // destroyed sees it expired and never touches `this`.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pgvigil::collect
