#pragma once
// Predicts when a filesystem fills up: a robust (Theil–Sen) linear fit of
// available bytes over time. Pure: the disk probe feeds it samples.
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <span>

namespace pgvigil {

struct FitPoint {
  double t = 0;  // seconds
  double y = 0;
};

struct LinearFit {
  double slope = 0;      // y per second
  double intercept = 0;  // y at t = 0
};

// Theil–Sen: the slope is the median of the slopes of all point pairs (at
// most max_pairs of them: the points are thinned evenly beyond that), the
// intercept the median of y - slope * t. Up to ~29% outliers do not move it.
// nullopt when fewer than two distinct times.
std::optional<LinearFit> theil_sen_fit(std::span<const FitPoint> points,
                                       std::size_t max_pairs = 20'000);

struct ForecastOptions {
  std::chrono::seconds window{3600};  // only samples this recent are fitted
  std::size_t max_samples = 360;      // ring size (1 h at 10 s)
  std::size_t min_samples = 5;
  std::chrono::seconds min_span{60};  // newest minus oldest sample
};

struct Forecast {
  double slope_bytes_per_second = 0;
  std::optional<double> full_at_unix_seconds;  // only when filling (slope < 0)
};

// One per filesystem series: keeps a bounded ring of (time, avail) samples.
class FillForecaster {
 public:
  explicit FillForecaster(ForecastOptions options = {}) : options_(options) {}
  void add(double unix_seconds, double avail_bytes);
  // nullopt until min_samples samples span at least min_span.
  std::optional<Forecast> forecast() const;
  std::size_t size() const noexcept { return samples_.size(); }

 private:
  ForecastOptions options_;
  std::deque<FitPoint> samples_;
};

}  // namespace pgvigil
