#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "probes/shared_reading.hpp"

using namespace std::chrono_literals;
using pgvigil::SharedReadings;
using Clock = std::chrono::system_clock;

TEST_CASE("a shared reading serves callers younger than their max age, then is read again") {
  SharedReadings<int> readings(60s);
  const auto start = Clock::time_point(100s);
  int reads = 0;
  auto read = [&] { return ++reads; };
  CHECK(readings.get("/data", start, 2s, read) == 1);
  CHECK(readings.get("/data", start + 1500ms, 2s, read) == 1);  // shared
  CHECK(reads == 1);
  CHECK(readings.get("/data", start + 1500ms, 1s, read) == 2);  // too old for this caller
  CHECK(readings.get("/data", start + 2s, 2s, read) == 2);      // the new one serves the rest
  CHECK(readings.get("/data", start + 4s, 2s, read) == 3);      // aged out
  CHECK(readings.get("/data", start + 4s, 0s, read) == 4);      // max age 0 always reads
  CHECK(readings.get("/other", start + 4s, 2s, read) == 5);     // keys apart
  CHECK(readings.get("/data", start + 4s, 2s, read) == 4);
  CHECK(reads == 5);
}

TEST_CASE("a reading from the future (a clock step in a test) is not served") {
  SharedReadings<int> readings(60s);
  int reads = 0;
  auto read = [&] { return ++reads; };
  readings.get("k", Clock::time_point(10s), 2s, read);
  CHECK(readings.get("k", Clock::time_point(9s), 2s, read) == 2);
}

TEST_CASE("readings of keys nobody asked for within keep_for are forgotten when a key comes") {
  SharedReadings<int> readings(10s);
  auto read = [] { return 0; };
  readings.get("gone-1", Clock::time_point(0s), 2s, read);
  readings.get("gone-2", Clock::time_point(1s), 2s, read);
  readings.get("kept", Clock::time_point(5s), 2s, read);
  CHECK(readings.size() == 3);
  readings.get("new", Clock::time_point(11s), 2s, read);  // gone-1 and gone-2 are 10 s old
  CHECK(readings.size() == 2);
}

TEST_CASE("the max age is a quarter of the interval, at most two seconds") {
  CHECK(pgvigil::shared_reading_max_age(0ms) == 0ms);
  CHECK(pgvigil::shared_reading_max_age(1s) == 250ms);
  CHECK(pgvigil::shared_reading_max_age(10s) == 2s);
  CHECK(pgvigil::shared_reading_max_age(15s) == 2s);
}
