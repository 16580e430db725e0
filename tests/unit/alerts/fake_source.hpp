#pragma once
// A hand-filled AlertSource for rule and evaluator tests.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "alerts/rules.hpp"

namespace pgvigil::alerts::test {

class FakeSource : public AlertSource {
 public:
  void set(const std::string& target, const std::string& metric, Labels labels, double value) {
    ++generation_;
    auto& series = samples_[{target, metric}];
    for (auto& [existing, v] : series)
      if (existing == labels) {
        v = value;
        return;
      }
    series.emplace_back(std::move(labels), value);
  }
  void clear(const std::string& target, const std::string& metric) {
    ++generation_;
    samples_.erase({target, metric});
  }
  void set_evidence(const std::string& target, const std::string& key, std::string text) {
    ++generation_;
    evidence_[{target, key}] = std::move(text);
  }
  // Moves on every change, like the store's input generation (never 0).
  std::uint64_t generation() const { return generation_; }
  // Metrics reported as untracked (their changes do not move generation()).
  void set_untracked(std::string metric) { untracked_.push_back(std::move(metric)); }
  // A change that does not move the generation, as a scheduler value would.
  void set_quietly(const std::string& target, const std::string& metric, Labels labels,
                   double value) {
    const auto keep = generation_;
    set(target, metric, std::move(labels), value);
    generation_ = keep;
  }
  bool tracked(std::string_view metric) const override {
    for (const auto& name : untracked_)
      if (name == metric) return false;
    return true;
  }

  std::vector<std::pair<Labels, double>> samples(const std::string& target,
                                                 std::string_view metric) const override {
    auto it = samples_.find({target, std::string(metric)});
    return it == samples_.end() ? std::vector<std::pair<Labels, double>>{} : it->second;
  }
  std::optional<std::string> evidence(const std::string& target,
                                      std::string_view key) const override {
    auto it = evidence_.find({target, std::string(key)});
    if (it == evidence_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<Labels, double>>> samples_;
  std::map<std::pair<std::string, std::string>, std::string> evidence_;
  std::vector<std::string> untracked_;
  std::uint64_t generation_ = 1;
};

// A target that is down with reason "refused" (pg_up 0 and the state set).
inline void set_down(FakeSource& source, const std::string& target, const std::string& reason) {
  source.set(target, "pg_up", {}, 0);
  for (const char* r : {"none", "refused", "timeout", "too_many_clients", "database_missing"})
    source.set(target, "pg_connection_failure", {{"reason", r}}, reason == r ? 1 : 0);
}

inline void set_up(FakeSource& source, const std::string& target) {
  set_down(source, target, "none");
  source.set(target, "pg_up", {}, 1);
}

}  // namespace pgvigil::alerts::test
