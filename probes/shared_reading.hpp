#pragma once
// A reading of host state (a filesystem, a data directory, the kernel's TCP
// tables) that every target looking at the same thing shares for a short
// while. A server watched as 100 database targets has one data directory:
// without sharing, its files were read and parsed 100 times per interval,
// an eighth of the agent's CPU at 1000 targets. A caller says how old a
// reading it accepts; an older one is read again and then serves the
// others. Host probes run on worker threads, hence the lock; the read runs
// under it, so two targets never read the same thing at once. Time is
// passed in (HostContext::now; tests pass their own).
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace pgvigil {

template <typename Value>
class SharedReadings {
 public:
  // The probes' HostContext::now: a wall clock that may step; a reading
  // from the future is not served.
  using Clock = std::chrono::system_clock;

  // Readings older than `keep_for` are forgotten when a new key comes.
  explicit SharedReadings(Clock::duration keep_for) : keep_for_(keep_for) {}

  // The reading under `key` if it is younger than `max_age` at `now`, else
  // a new one from `read()`. max_age 0 always reads.
  template <typename Read>
  Value get(const std::string& key, Clock::time_point now, Clock::duration max_age, Read&& read) {
    const std::lock_guard lock(mutex_);
    auto found = readings_.find(key);
    if (found != readings_.end() && now >= found->second.first &&
        now - found->second.first < max_age)
      return found->second.second;
    Value value = read();
    if (found != readings_.end()) {
      found->second = {now, value};
    } else {
      // Keys of targets that went away would otherwise stay for good; a new
      // key is rare (a target's first round), so the sweep happens then.
      std::erase_if(readings_,
                    [&](const auto& entry) { return now - entry.second.first >= keep_for_; });
      readings_.emplace(key, std::pair{now, value});
    }
    return value;
  }

  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return readings_.size();
  }

 private:
  const Clock::duration keep_for_;
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<Clock::time_point, Value>> readings_;
};

// How old a shared host reading a probe round accepts: a quarter of the
// probe's interval, at most two seconds. A target never gets its own
// previous reading back (that is a whole interval old), so a target alone
// on its data directory reads every round as before; a hundred targets on
// one share it, and a change reaches them at most this much later.
inline std::chrono::milliseconds shared_reading_max_age(std::chrono::milliseconds interval) {
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(2), interval / 4);
}

}  // namespace pgvigil
