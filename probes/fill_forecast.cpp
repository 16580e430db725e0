#include "probes/fill_forecast.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pgvigil {

namespace {

double median(std::vector<double>& values) {
  auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  double upper = *mid;
  if (values.size() % 2 == 1) return upper;
  double lower = *std::max_element(values.begin(), mid);
  return (lower + upper) / 2;
}

}  // namespace

std::optional<LinearFit> theil_sen_fit(std::span<const FitPoint> points, std::size_t max_pairs) {
  // Thin evenly so that m * (m - 1) / 2 <= max_pairs.
  std::size_t keep = points.size();
  while (keep > 2 && keep * (keep - 1) / 2 > max_pairs) --keep;
  std::vector<FitPoint> used;
  used.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) {
    auto index = keep == points.size() ? i : i * (points.size() - 1) / (keep - 1);
    used.push_back(points[index]);
  }
  std::vector<double> slopes;
  slopes.reserve(used.size() * (used.size() - (used.empty() ? 0 : 1)) / 2);
  for (std::size_t i = 0; i < used.size(); ++i)
    for (std::size_t j = i + 1; j < used.size(); ++j) {
      double dt = used[j].t - used[i].t;
      if (dt != 0 && std::isfinite(dt)) slopes.push_back((used[j].y - used[i].y) / dt);
    }
  if (slopes.empty()) return std::nullopt;
  LinearFit fit;
  fit.slope = median(slopes);
  std::vector<double> intercepts;
  intercepts.reserve(used.size());
  for (const auto& p : used) intercepts.push_back(p.y - fit.slope * p.t);
  fit.intercept = median(intercepts);
  return fit;
}

void FillForecaster::add(double unix_seconds, double avail_bytes) {
  if (!std::isfinite(unix_seconds) || !std::isfinite(avail_bytes)) return;
  // The clock went back (or a duplicate round): older samples no longer line up.
  if (!samples_.empty() && unix_seconds <= samples_.back().t) samples_.clear();
  samples_.push_back({unix_seconds, avail_bytes});
  auto oldest = unix_seconds - static_cast<double>(options_.window.count());
  while (!samples_.empty() && samples_.front().t < oldest) samples_.pop_front();
  while (samples_.size() > options_.max_samples) samples_.pop_front();
}

std::optional<Forecast> FillForecaster::forecast() const {
  if (samples_.size() < options_.min_samples || samples_.size() < 2) return std::nullopt;
  double latest = samples_.back().t;
  if (latest - samples_.front().t < static_cast<double>(options_.min_span.count()))
    return std::nullopt;
  // Fit on times relative to the newest sample: unix seconds squared would
  // lose precision in the intercept.
  std::vector<FitPoint> relative;
  relative.reserve(samples_.size());
  for (const auto& p : samples_) relative.push_back({p.t - latest, p.y});
  auto fit = theil_sen_fit(relative);
  if (!fit) return std::nullopt;
  Forecast forecast;
  forecast.slope_bytes_per_second = fit->slope;
  if (fit->slope < 0) {
    // avail(t) = intercept + slope * t reaches 0 at t = -intercept / slope.
    double until_full = std::max(0.0, -fit->intercept / fit->slope);
    forecast.full_at_unix_seconds = latest + until_full;
  }
  return forecast;
}

}  // namespace pgvigil
