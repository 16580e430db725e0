#include "alerts/rule_helpers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace pgvigil::alerts::detail {

std::string number(double value) {
  return fmt::format("{}", value);
}

double unix_seconds(Clock::time_point now) {
  return std::chrono::duration<double>(now.time_since_epoch()).count();
}

Clock::time_point from_unix_seconds(double seconds) {
  // Far below the clock's range (~292 years of nanoseconds either way).
  constexpr double kLimit = 4e9;
  if (!std::isfinite(seconds) || seconds > kLimit) return Clock::time_point::max();
  if (seconds < -kLimit) return Clock::time_point::min();
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

Findings above(const RuleContext& ctx, std::string_view metric, double threshold,
               std::string severity) {
  return each_sample(
      ctx, metric, [threshold](double v) { return v > threshold; }, std::move(severity));
}

bool any_series(const Series& series, const Labels& labels,
                const std::function<bool(double)>& test) {
  const auto key = fingerprint(labels);
  return std::any_of(series.begin(), series.end(), [&](const auto& sample) {
    return test(sample.second) && fingerprint(sample.first) == key;
  });
}

std::optional<std::string> current_state(const RuleContext& ctx, std::string_view metric,
                                         std::string_view state_label) {
  for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, metric))
    if (value == 1) return label_value(labels, state_label);
  return std::nullopt;
}

bool rose_within(const RuleContext& ctx, const std::string& series, double value, double window) {
  const double now = unix_seconds(ctx.now());
  auto& memory = ctx.memory;
  if (memory.size() > 20'000) memory.clear();  // bound: departed series leave keys behind
  const std::string value_key = "value\x1f" + series;
  const std::string rose_key = "rose\x1f" + series;
  auto previous = memory.find(value_key);
  if (previous != memory.end() && value > previous->second) memory[rose_key] = now;
  memory[value_key] = value;
  auto rose = memory.find(rose_key);
  const bool within = rose != memory.end() && now - rose->second <= window;
  // The same value again changes nothing; only the window's end does.
  ctx.settled(within ? from_unix_seconds(rose->second + window) : Clock::time_point::max());
  return within;
}

std::optional<double> rate_over(const RuleContext& ctx, const std::string& series, double value,
                                double window) {
  if (!std::isfinite(value) || !(window > 0)) return std::nullopt;
  const double now = unix_seconds(ctx.now());
  auto& memory = ctx.memory;
  if (memory.size() > 20'000) memory.clear();  // bound: departed series leave keys behind
  // Keys "rate<US>series<US>time": the map keeps one series' points in time order.
  const std::string prefix = "rate\x1f" + series + "\x1f";
  const auto points = [&] {
    auto begin = memory.lower_bound(prefix);
    auto end = begin;
    while (end != memory.end() && end->first.starts_with(prefix)) ++end;
    return std::pair{begin, end};
  };
  const auto time_of = [&](auto it) { return std::stod(it->first.substr(prefix.size())); };
  auto [begin, end] = points();
  if (begin != end && value < std::prev(end)->second) {  // a reset: the history says nothing
    memory.erase(begin, end);
    std::tie(begin, end) = points();
  }
  if (begin == end || now - time_of(std::prev(end)) >= window / 32) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%017.3f", now);
    memory[prefix + stamp] = value;
    std::tie(begin, end) = points();
  }
  while (begin != end && now - time_of(begin) > window) begin = memory.erase(begin);
  if (begin == end) return std::nullopt;
  const double span = now - time_of(begin);
  if (span < window / 2) return std::nullopt;
  return (value - begin->second) / span;
}

std::string rate_expr(const PromContext& p, std::string_view metric) {
  return "rate(" + p.select(metric) + "[" +
         format_threshold(p.params.get("window"), Unit::seconds) + "])";
}

Evaluate eval_above(std::string metric, std::string key) {
  return [metric = std::move(metric), key = std::move(key)](const RuleContext& ctx) {
    return above(ctx, metric, ctx.params.get(key));
  };
}

Prometheus prom_above(std::string metric, std::string key) {
  return [metric = std::move(metric), key = std::move(key)](const PromContext& p) {
    return std::vector<PromAlert>{{.expr = p.select(metric) + " > " + number(p.params.get(key))}};
  };
}

Evaluate eval_equals(std::string metric, double value) {
  return [metric = std::move(metric), value](const RuleContext& ctx) {
    return each_sample(ctx, metric, [value](double v) { return v == value; });
  };
}

Prometheus prom_equals(std::string metric, double value) {
  return [metric = std::move(metric), value](const PromContext& p) {
    return std::vector<PromAlert>{{.expr = p.select(metric) + " == " + number(value)}};
  };
}

Findings rose_findings(const RuleContext& ctx, const std::string& metric) {
  Findings out;
  const double window = ctx.params.get("window");
  for (auto& [labels, value] : ctx.source.samples(ctx.target.name, metric)) {
    if (!rose_within(ctx, metric + fingerprint(labels), value, window)) continue;
    Finding finding;
    finding.labels = labels;
    finding.value = value;
    out.push_back(std::move(finding));
  }
  return out;
}

std::string rose_expr(const PromContext& p, std::string_view metric) {
  return "increase(" + p.select(metric) + "[" +
         format_threshold(p.params.get("window"), Unit::seconds) + "]) > 0";
}

Evaluate eval_rose(std::string metric) {
  return
      [metric = std::move(metric)](const RuleContext& ctx) { return rose_findings(ctx, metric); };
}

Prometheus prom_rose(std::string metric) {
  return [metric = std::move(metric)](const PromContext& p) {
    return std::vector<PromAlert>{{.expr = rose_expr(p, metric)}};
  };
}

Findings log_class_rose(const RuleContext& ctx, std::string_view klass) {
  double messages = 0;
  bool have_log = false;
  for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "pg_log_messages_total"))
    if (label_value(labels, "class") == klass) {
      messages += value;
      have_log = true;
    }
  if (!have_log ||
      !rose_within(ctx, "log\x1f" + std::string(klass), messages, ctx.params.get("window")))
    return {};
  Finding finding;
  finding.labels = {{"class", std::string(klass)}};
  finding.value = messages;
  return {std::move(finding)};
}

std::string log_class_rose_expr(const PromContext& p, std::string_view klass) {
  return "sum without (severity) (increase(" +
         p.select("pg_log_messages_total", "class=\"" + std::string(klass) + "\"") + "[" +
         format_threshold(p.params.get("window"), Unit::seconds) + "])) > 0";
}

Findings severities(const RuleContext& ctx, std::string_view metric) {
  auto out = above(ctx, metric, ctx.params.get("warning"), "warning");
  auto critical = above(ctx, metric, ctx.params.get("critical"), "critical");
  out.insert(out.end(), critical.begin(), critical.end());
  return out;
}

std::vector<PromAlert> prom_severities(const PromContext& p, std::string_view metric) {
  return {
      {.expr = p.select(metric) + " > " + number(p.params.get("warning")), .severity = "warning"},
      {.expr = p.select(metric) + " > " + number(p.params.get("critical")),
       .severity = "critical"}};
}

}  // namespace pgvigil::alerts::detail
