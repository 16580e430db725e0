#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "probes/fill_forecast.hpp"

using pgvigil::FillForecaster;
using pgvigil::FitPoint;

namespace {
constexpr double kStart = 1'800'000'000;  // unix seconds
constexpr double kGiB = 1024.0 * 1024 * 1024;
}  // namespace

TEST_CASE("Theil-Sen recovers an exact line") {
  std::vector<FitPoint> points;
  for (int i = 0; i < 20; ++i) points.push_back({i * 10.0, 500.0 - 3.0 * i * 10.0});
  auto fit = pgvigil::theil_sen_fit(points);
  REQUIRE(fit.has_value());
  CHECK(fit->slope == doctest::Approx(-3.0));
  CHECK(fit->intercept == doctest::Approx(500.0));
  CHECK_FALSE(pgvigil::theil_sen_fit(std::vector<FitPoint>{{1, 1}, {1, 2}}).has_value());
  CHECK_FALSE(pgvigil::theil_sen_fit(std::vector<FitPoint>{}).has_value());
}

TEST_CASE("Theil-Sen with a bounded pair count still fits a long series") {
  std::vector<FitPoint> points;
  for (int i = 0; i < 1000; ++i) points.push_back({i * 1.0, 7.0 + 2.0 * i});
  auto fit = pgvigil::theil_sen_fit(points, 500);
  REQUIRE(fit.has_value());
  CHECK(fit->slope == doctest::Approx(2.0));
  CHECK(fit->intercept == doctest::Approx(7.0));
}

TEST_CASE("steady fill predicts the right time") {
  FillForecaster forecaster;
  // 10 GiB available, losing 1 MiB/s, sampled every 15 s for 10 minutes.
  const double rate = 1024.0 * 1024;
  double t = kStart;
  for (int i = 0; i < 40; ++i, t += 15) forecaster.add(t, 10 * kGiB - rate * (t - kStart));
  auto forecast = forecaster.forecast();
  REQUIRE(forecast.has_value());
  CHECK(forecast->slope_bytes_per_second == doctest::Approx(-rate));
  REQUIRE(forecast->full_at_unix_seconds.has_value());
  CHECK(*forecast->full_at_unix_seconds == doctest::Approx(kStart + 10 * kGiB / rate));
}

TEST_CASE("noisy fill with outliers is still close") {
  FillForecaster forecaster;
  const double rate = 2.0 * 1024 * 1024;
  double t = kStart;
  unsigned noise_state = 12345;
  for (int i = 0; i < 120; ++i, t += 15) {
    noise_state = noise_state * 1103515245u + 12345u;
    double noise =
        (static_cast<double>((noise_state >> 8) % 2001) - 1000.0) * 200 * 1024;  // +-200 MiB
    double avail = 50 * kGiB - rate * (t - kStart) + noise;
    if (i % 10 == 3) avail += 20 * kGiB;  // a temporary file deleted and recreated
    if (i % 17 == 5) avail = 0.5 * avail;
    forecaster.add(t, avail);
  }
  auto forecast = forecaster.forecast();
  REQUIRE(forecast.has_value());
  REQUIRE(forecast->full_at_unix_seconds.has_value());
  double truth = kStart + 50 * kGiB / rate;
  CHECK(std::abs(*forecast->full_at_unix_seconds - truth) < 0.05 * (truth - kStart));
}

TEST_CASE("flat or freeing space predicts nothing") {
  FillForecaster flat;
  FillForecaster freeing;
  for (int i = 0; i < 30; ++i) {
    flat.add(kStart + i * 15, 5 * kGiB);
    freeing.add(kStart + i * 15, 5 * kGiB + i * 1000.0);
  }
  REQUIRE(flat.forecast().has_value());
  CHECK(flat.forecast()->slope_bytes_per_second == 0);
  CHECK_FALSE(flat.forecast()->full_at_unix_seconds.has_value());
  REQUIRE(freeing.forecast().has_value());
  CHECK(freeing.forecast()->slope_bytes_per_second > 0);
  CHECK_FALSE(freeing.forecast()->full_at_unix_seconds.has_value());
}

TEST_CASE("too few samples or too short a span predicts nothing") {
  FillForecaster few;
  for (int i = 0; i < 4; ++i) few.add(kStart + i * 60, kGiB - i * 1000.0);
  CHECK_FALSE(few.forecast().has_value());
  FillForecaster short_span;
  for (int i = 0; i < 10; ++i) short_span.add(kStart + i * 5, kGiB - i * 1000.0);  // 45 s
  CHECK_FALSE(short_span.forecast().has_value());
  short_span.add(kStart + 60, kGiB - 12000.0);
  CHECK(short_span.forecast().has_value());
}

TEST_CASE("the window and ring bound the samples, a clock going back starts over") {
  pgvigil::ForecastOptions options;
  options.window = std::chrono::seconds(600);
  options.max_samples = 30;
  FillForecaster forecaster(options);
  for (int i = 0; i < 200; ++i) forecaster.add(kStart + i * 10, kGiB);
  CHECK(forecaster.size() == 30);
  FillForecaster windowed(
      pgvigil::ForecastOptions{std::chrono::seconds(600), 1000, 5, std::chrono::seconds(60)});
  for (int i = 0; i < 200; ++i) windowed.add(kStart + i * 10, kGiB);
  CHECK(windowed.size() == 61);
  windowed.add(kStart, kGiB);
  CHECK(windowed.size() == 1);
}

TEST_CASE("an old fill trend gives way to a recent flat one once outside the window") {
  FillForecaster forecaster;
  double t = kStart;
  for (int i = 0; i < 240; ++i, t += 15) forecaster.add(t, 10 * kGiB - 1e6 * i);
  REQUIRE(forecaster.forecast()->full_at_unix_seconds.has_value());
  for (int i = 0; i < 250; ++i, t += 15) forecaster.add(t, 9 * kGiB);
  CHECK_FALSE(forecaster.forecast()->full_at_unix_seconds.has_value());
}
