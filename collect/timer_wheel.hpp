#pragma once
// A hashed timing wheel (Varghese & Lauck, scheme 6). Time is injected, never
// read: the owner calls advance(now) with whatever clock it trusts, which keeps
// the wheel deterministic under test.
//
// Each timer keeps its exact due time; the wheel only uses ticks to decide
// which slot holds it (slot = due tick mod slot count). A slot therefore mixes
// timers of several rotations, and a timer whose due tick lies one or more
// whole rotations ahead stays put when its slot is visited (the "rounds"
// counter of the paper, kept here as an absolute due tick so it never needs
// decrementing).
//
// Callbacks run inside advance(), on the caller's thread, and must not throw:
// they are invoked from a noexcept frame, so an escaping exception calls
// std::terminate. Wrap anything that may throw before scheduling it.
//
// Re-entrancy, decided: a callback may schedule(), cancel() and inspect the
// wheel. A timer scheduled during advance() never fires within that same
// advance(), even if it is already due; it fires at the next advance(). This
// bounds every advance() by the number of timers due when it started, so a
// callback that re-arms itself "now" cannot loop forever. Calling advance()
// from inside a callback does nothing and returns 0.
//
// Not thread-safe: one thread owns the wheel.
#include <algorithm>
#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pgvigil::collect {

// Opaque timer handle. Ids are handed out in increasing order and never reused
// within one wheel's life; the default value names no timer.
struct TimerId {
  std::uint64_t value = 0;
  auto operator<=>(const TimerId&) const = default;
};

template <class Clock>
class TimerWheel {
 public:
  using TimePoint = typename Clock::time_point;
  using Duration = typename Clock::duration;
  using Callback = std::function<void()>;  // must not throw (see above)

  TimerWheel(Duration tick, std::size_t slots, TimePoint start)
      : tick_(tick), start_(start), slots_(slots) {
    if (tick <= Duration::zero()) throw std::invalid_argument("timer wheel tick must be positive");
    if (slots == 0) throw std::invalid_argument("timer wheel needs at least one slot");
  }

  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // A due time at or before the last advance() fires at the next advance().
  TimerId schedule(TimePoint due, Callback cb) {
    if (!cb) throw std::invalid_argument("timer wheel: empty callback");
    const std::uint64_t id = ++last_id_;
    // Past-due timers go into the current slot so the next advance sees them.
    const std::uint64_t tick = std::max(tick_of(due), cursor_tick_);
    slot_for(tick).push_back(id);
    timers_.emplace(id, Timer{due, tick, std::move(cb)});
    return TimerId{id};
  }

  // True if the timer was still pending (it will now never fire).
  bool cancel(TimerId id) noexcept {
    auto it = timers_.find(id.value);
    if (it == timers_.end()) return false;
    // A timer already picked for firing by a running advance() is no longer in
    // its slot; erasing it from timers_ is what stops it.
    auto& slot = slot_for(it->second.tick);
    if (auto pos = std::find(slot.begin(), slot.end(), id.value); pos != slot.end()) {
      *pos = slot.back();
      slot.pop_back();
    }
    timers_.erase(it);
    return true;
  }

  // Fires every timer due at or before `now`, earliest due first, ties in
  // schedule order. Returns how many fired. Time never runs backwards: an
  // earlier `now` than the last one visits no new slots.
  std::size_t advance(TimePoint now) {
    if (advancing_) return 0;
    advancing_ = true;
    struct Reset {
      TimerWheel& wheel;
      ~Reset() {
        wheel.advancing_ = false;
        wheel.firing_.clear();
      }
    } reset{*this};

    const std::uint64_t now_tick = std::max(tick_of(now), cursor_tick_);
    // Revisit the cursor's own slot: an earlier advance within the same tick
    // may have left timers there that are due by now.
    const std::uint64_t span = now_tick - cursor_tick_ + 1;
    const std::uint64_t visits = std::min<std::uint64_t>(span, slots_.size());
    auto& due_ids = firing_;
    for (std::uint64_t i = 0; i < visits; ++i) {
      auto& slot = slot_for(cursor_tick_ + i);
      for (std::size_t k = 0; k < slot.size();) {
        const Timer& timer = timers_.at(slot[k]);
        if (timer.due <= now) {
          due_ids.push_back(slot[k]);
          slot[k] = slot.back();
          slot.pop_back();
        } else {
          ++k;
        }
      }
    }
    cursor_tick_ = now_tick;

    // Ids grow with schedule order, so (due, id) is the required firing order.
    std::sort(due_ids.begin(), due_ids.end(), [this](std::uint64_t a, std::uint64_t b) {
      const TimePoint due_a = timers_.at(a).due;
      const TimePoint due_b = timers_.at(b).due;
      return due_a != due_b ? due_a < due_b : a < b;
    });

    std::size_t fired = 0;
    for (std::uint64_t id : due_ids) {
      auto it = timers_.find(id);
      if (it == timers_.end()) continue;  // cancelled by an earlier callback
      Callback cb = std::move(it->second.callback);
      timers_.erase(it);
      invoke(cb);
      ++fired;
    }
    return fired;
  }

  // The earliest pending due time, exact (not rounded to a tick).
  std::optional<TimePoint> next_due() const {
    if (timers_.empty()) return std::nullopt;
    // Inside a callback, timers picked by the running advance() but not fired
    // yet are out of their slots; the first one still pending is the earliest
    // of them (firing_ is sorted).
    std::optional<TimePoint> picked;
    for (std::uint64_t id : firing_) {
      if (auto it = timers_.find(id); it != timers_.end()) {
        picked = it->second.due;
        break;
      }
    }
    const auto earlier = [](std::optional<TimePoint> a, std::optional<TimePoint> b) {
      if (!a) return b;
      if (!b) return a;
      return std::optional<TimePoint>(std::min(*a, *b));
    };
    // Walk one rotation from the cursor: the first slot holding a timer of
    // its own rotation holds the earliest slotted timer, because every timer
    // in an earlier tick is earlier in time.
    for (std::uint64_t i = 0; i < slots_.size(); ++i) {
      const std::uint64_t tick = cursor_tick_ + i;
      std::optional<TimePoint> best;
      for (std::uint64_t id : slot_for(tick)) {
        const Timer& timer = timers_.at(id);
        if (timer.tick == tick) best = earlier(best, timer.due);
      }
      if (best) return earlier(best, picked);
    }
    // Every slotted timer is more than a rotation away; fall back to a scan.
    std::optional<TimePoint> best;
    for (const auto& [id, timer] : timers_) best = earlier(best, timer.due);
    return best;
  }

  std::size_t size() const noexcept { return timers_.size(); }

 private:
  struct Timer {
    TimePoint due;
    std::uint64_t tick;  // due tick, clamped to the cursor at schedule time
    Callback callback;
  };

  // noexcept on purpose: a throwing callback terminates instead of leaving
  // the wheel half-advanced.
  static void invoke(Callback& cb) noexcept { cb(); }

  std::uint64_t tick_of(TimePoint t) const noexcept {
    if (t <= start_) return 0;
    return static_cast<std::uint64_t>((t - start_) / tick_);
  }

  std::vector<std::uint64_t>& slot_for(std::uint64_t tick) noexcept {
    return slots_[static_cast<std::size_t>(tick % slots_.size())];
  }
  const std::vector<std::uint64_t>& slot_for(std::uint64_t tick) const noexcept {
    return slots_[static_cast<std::size_t>(tick % slots_.size())];
  }

  Duration tick_;
  TimePoint start_;
  std::vector<std::vector<std::uint64_t>> slots_;
  std::unordered_map<std::uint64_t, Timer> timers_;
  std::vector<std::uint64_t> firing_;  // picked by the running advance(), in order
  std::uint64_t cursor_tick_ = 0;
  std::uint64_t last_id_ = 0;
  bool advancing_ = false;
};

}  // namespace pgvigil::collect
