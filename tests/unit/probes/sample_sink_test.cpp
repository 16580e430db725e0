#include <doctest/doctest.h>

#include <array>

#include "probes/probe_output.hpp"
#include "probes/query_result.hpp"
#include "probes/sample_sink.hpp"

using pgvigil::QueryResult;
using pgvigil::SampleSink;

TEST_CASE("state_set emits one series per state with only the current one set") {
  SampleSink sink;
  constexpr std::array<std::string_view, 3> states{"ok", "rejecting", "no_response"};
  sink.state_set("pg_isready_status", "help", {{"target", "a"}}, "status", states, "rejecting");
  CHECK(sink.series_count("pg_isready_status") == 3);
  CHECK(sink.find("pg_isready_status", {{"target", "a"}, {"status", "rejecting"}})->gauge.value ==
        1.0);
  CHECK(sink.find("pg_isready_status", {{"status", "ok"}, {"target", "a"}})->gauge.value == 0.0);
}

TEST_CASE("families are grouped by name in first-seen order") {
  SampleSink sink;
  sink.gauge("b", "", {{"x", "1"}}, 1);
  sink.counter("a", "", {}, 2);
  sink.gauge("b", "", {{"x", "2"}}, 3);
  auto families = sink.take();
  REQUIRE(families.size() == 2);
  CHECK(families[0].name == "b");
  CHECK(families[0].metric.size() == 2);
  CHECK(sink.empty());
}

TEST_CASE("QueryResult treats NULL and non-numbers as no value") {
  auto result = QueryResult::from_rows({"a", "b", "c"}, {{"1.5", std::nullopt, "abc"}});
  CHECK(result.number(0, "a") == doctest::Approx(1.5));
  CHECK_FALSE(result.number(0, "b").has_value());
  CHECK_FALSE(result.number(0, "c").has_value());
  CHECK_FALSE(result.number(0, "missing").has_value());
  CHECK_FALSE(result.number(1, "a").has_value());
  CHECK(result.boolean(0, "a") == std::nullopt);
}

TEST_CASE("probe output: evidence is one line, cut at a character boundary") {
  CHECK(pgvigil::clip_evidence("SELECT 1\n  FROM t") == "SELECT 1   FROM t");
  CHECK(pgvigil::clip_evidence(std::string(250, 'x')) == std::string(200, 'x') + "...");
  // "é" is two bytes; a cut through it drops the whole character.
  const std::string accents = std::string(199, 'a') + "\xc3\xa9" + "bc";
  CHECK(pgvigil::clip_evidence(accents) == std::string(199, 'a') + "...");
  CHECK(pgvigil::clip_evidence("short", 3) == "sho...");
}

TEST_CASE("probe output: the permission gauge follows SQLSTATE 42501 in any statement") {
  std::vector<pgvigil::QueryResult> results(2);
  results[0].ok = true;
  results[1].ok = false;
  results[1].sqlstate = "57014";
  CHECK_FALSE(pgvigil::any_permission_denied(results));
  results[1].sqlstate = "42501";
  CHECK(pgvigil::any_permission_denied(results));
  pgvigil::SampleSink sink;
  pgvigil::report_permission_denied(sink, {{"probe", "locks"}}, true);
  REQUIRE(sink.find("pgvigil_probe_permission_denied", {{"probe", "locks"}}) != nullptr);
  CHECK(sink.find("pgvigil_probe_permission_denied", {{"probe", "locks"}})->gauge.value == 1);
}

TEST_CASE("retain_if drops rejected samples and families left empty") {
  pgvigil::SampleSink sink;
  sink.gauge("pg_database_size_bytes", "size", {{"datname", "a"}}, 1);
  sink.gauge("pg_database_size_bytes", "size", {{"datname", "b"}}, 2);
  sink.gauge("pg_only_b", "b only", {{"datname", "b"}}, 3);
  sink.gauge("pg_settings_x", "no datname", {}, 4);
  sink.retain_if(
      [](const prometheus::ClientMetric& m) { return m.label.empty() || m.label[0].value != "b"; });
  CHECK(sink.series_count("pg_database_size_bytes") == 1);
  CHECK(sink.find("pg_database_size_bytes", {{"datname", "a"}}) != nullptr);
  CHECK(sink.series_count("pg_only_b") == 0);
  CHECK(sink.families().size() == 2);
  // The index is rebuilt: a later sample joins its family, not a new one.
  sink.gauge("pg_settings_x", "no datname", {{"k", "v"}}, 5);
  CHECK(sink.series_count("pg_settings_x") == 2);
  CHECK(sink.families().size() == 2);
}
