#include "alerts/template.hpp"

#include <doctest/doctest.h>

using namespace pgvigil;
using namespace pgvigil::alerts;

TEST_CASE("humanize functions match Prometheus' template functions") {
  CHECK(humanize_duration(0) == "0s");
  CHECK(humanize_duration(3.5) == "3.5s");
  CHECK(humanize_duration(300) == "5m 0s");
  CHECK(humanize_duration(3725) == "1h 2m 5s");
  CHECK(humanize_duration(90061) == "1d 1h 1m 1s");
  CHECK(humanize_duration(0.25) == "250ms");
  CHECK(humanize_duration(-75) == "-1m 15s");
  CHECK(humanize_percentage(0.85) == "85%");
  CHECK(humanize_percentage(0.123456) == "12.35%");
  CHECK(humanize_1024(1024.0 * 1024 * 1024) == "1Gi");
  CHECK(humanize_1024(1536) == "1.5ki");
  CHECK(humanize_1024(1) == "1");
  CHECK(humanize(1234567) == "1.235M");
  CHECK(humanize(0.002) == "2m");
  CHECK(humanize(0) == "0");
}

TEST_CASE("render_template fills labels and values, leaves unknown expressions alone") {
  const Labels labels{{"target", "db1"}, {"reason", "refused"}};
  CHECK(render_template("{{ $labels.target }} down ({{ $labels.reason }})", labels, 0) ==
        "db1 down (refused)");
  CHECK(render_template("{{$labels.missing}}|", labels, 0) == "|");
  CHECK(render_template("ran {{ $value | humanizeDuration }}", labels, 400) == "ran 6m 40s");
  CHECK(render_template("{{ $value }}", labels, 2) == "2");
  CHECK(render_template("{{ .Foo }} and {{ unclosed", labels, 0) == "{{ .Foo }} and {{ unclosed");
}
