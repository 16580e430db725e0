// The store behind /metrics: rounds replace whole snapshots, same-named
// families merge across targets, and the pre-serialised text is exactly what
// the prometheus-cpp serializer makes of the same data (golden file).
#include "collect/metrics_store.hpp"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

using pgvigil::Labels;
using pgvigil::MetricsStore;
using pgvigil::SampleSink;

constexpr std::array<std::string_view, 3> kStates{"streaming", "catchup", "stopping"};

std::vector<prometheus::MetricFamily> liveness_round(double up) {
  SampleSink sink;
  sink.gauge("pg_up", "1 when the server accepts connections", {}, up);
  sink.counter("pg_connection_failures_total", "Failed connection attempts",
               {{"reason", "refused"}}, 3);
  return sink.take();
}

std::vector<prometheus::MetricFamily> replication_round(int standbys) {
  SampleSink sink;
  for (int i = 0; i < standbys; ++i) {
    const Labels labels{{"application_name", "replica" + std::to_string(i)},
                        {"client_addr", "10.0.0." + std::to_string(i + 1)}};
    sink.gauge("pg_stat_replication_replay_lag_bytes", "WAL bytes not yet replayed", labels,
               1024.0 * (i + 1));
    sink.state_set("pg_stat_replication_state", "Walsender state", labels, "state", kStates,
                   "streaming");
  }
  // Label values the text format must escape, and a help text too.
  sink.gauge("pgvigil_check_value", "A \"quoted\" help\\text\nwith a newline",
             {{"check", "line\nbreak \"quote\" back\\slash"}}, 0.5);
  prometheus::ClientMetric::Histogram histogram;
  histogram.sample_count = 3;
  histogram.sample_sum = 0.75;
  histogram.bucket = {{1, 0.1}, {3, 1.0}};
  sink.histogram("pgvigil_alertmanager_latency_seconds", "Alertmanager request latency",
                 {{"alertmanager", "x"}}, histogram);
  return sink.take();
}

MetricsStore two_targets() {
  MetricsStore store;
  store.set("db1", "liveness", {{"env", "prod"}}, liveness_round(1));
  store.set("db1", "replication", {{"env", "prod"}}, replication_round(2));
  store.set("db2", "liveness", {}, liveness_round(0));
  store.set("db2", "replication", {}, replication_round(1));
  return store;
}

std::string text_of(const MetricsStore& store) {
  std::string out;
  store.write_text(out);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing " << path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("metrics store: the pre-serialised text equals the serializer's output of Collect()") {
  const auto store = two_targets();
  const std::string expected = prometheus::TextSerializer().Serialize(store.Collect());
  CHECK(text_of(store) == expected);
}

TEST_CASE("metrics store: golden exposition of two targets") {
  // To update after an intended change: PGVIGIL_UPDATE_GOLDEN=1 and rerun.
  const std::string path = std::string(PGVIGIL_TEST_DATA) + "/metrics/two_targets.prom";
  const std::string text = text_of(two_targets());
  if (std::getenv("PGVIGIL_UPDATE_GOLDEN") != nullptr)
    std::ofstream(path, std::ios::binary) << text;
  CHECK(text == read_file(path));
  // Each family's header appears once although both targets have it.
  std::size_t headers = 0;
  for (std::size_t at = 0; (at = text.find("# TYPE pg_up ", at)) != std::string::npos; ++at)
    ++headers;
  CHECK(headers == 1);
}

TEST_CASE("metrics store: text parts keep the text of their moment while rounds land") {
  auto store = two_targets();
  const std::string before = text_of(store);
  const auto parts = store.text_parts();
  // Rounds that land while an assembly holds the parts: in place (a moved
  // value, a volatile gauge), a whole new snapshot, a new family name, a
  // removal.
  store.set("db1", "replication", {{"env", "prod"}}, replication_round(3));
  store.set("db2", "liveness", {}, liveness_round(1));
  SampleSink sink;
  sink.gauge("pg_probe_rtt_seconds", "rtt", {}, 0.002);
  store.set("db3", "liveness", {}, std::move(sink));
  CHECK(store.update_gauge("db3", "liveness", "pg_probe_rtt_seconds", 0.003));
  store.remove("db2", "replication");
  std::string held;
  parts.assemble(held);
  CHECK(held == before);
  const std::string after = text_of(store);
  CHECK(after != before);
  CHECK(after == prometheus::TextSerializer().Serialize(store.Collect()));
  CHECK(after.find("pg_probe_rtt_seconds{target=\"db3\"} 0.003\n") != std::string::npos);
  // With no parts held, a moved value is written in the snapshot's own buffer.
  CHECK(store.update_gauge("db3", "liveness", "pg_probe_rtt_seconds", 0.004));
  CHECK(text_of(store) == prometheus::TextSerializer().Serialize(store.Collect()));
}

TEST_CASE("metrics store: a round replaces its snapshot whole") {
  auto store = two_targets();
  CHECK(store.samples("db1", "pg_stat_replication_replay_lag_bytes").size() == 2);
  store.set("db1", "replication", {{"env", "prod"}}, replication_round(0));
  CHECK(store.samples("db1", "pg_stat_replication_replay_lag_bytes").empty());
  const std::string text = text_of(store);
  CHECK(text.find("replica1") == std::string::npos);  // db1's second standby is gone
  CHECK(text.find("10.0.0.1") != std::string::npos);  // db2's standby stays
  CHECK(text.find("target=\"db1\",env=\"prod\"") != std::string::npos);
  CHECK(text == prometheus::TextSerializer().Serialize(store.Collect()));
}

TEST_CASE("metrics store: removing probes and targets removes their text") {
  auto store = two_targets();
  store.retain_only("db1", {"liveness"});
  CHECK(store.probes_of("db1") == std::vector<std::string>{"liveness"});
  std::string text = text_of(store);
  CHECK(text.find("target=\"db1\",env=\"prod\",application_name") == std::string::npos);
  CHECK(text.find("pg_up{target=\"db1\"") != std::string::npos);
  CHECK(store.remove_target("db2") == 2);
  text = text_of(store);
  CHECK(text.find("db2") == std::string::npos);
  CHECK(text == prometheus::TextSerializer().Serialize(store.Collect()));
  store.remove("db1", "liveness");
  CHECK(text_of(store).empty());
}

TEST_CASE("metrics store: a round equal to the stored one changes nothing") {
  auto store = two_targets();
  const auto generation = store.generation();
  const auto serialisations = store.serialisations();
  const auto input = store.input_generation("db1");
  const std::string before = text_of(store);
  CHECK_FALSE(store.set("db1", "replication", {{"env", "prod"}}, replication_round(2)));
  CHECK_FALSE(store.set("db2", "liveness", {}, liveness_round(0)));
  CHECK(store.generation() == generation);
  CHECK(store.serialisations() == serialisations);
  CHECK(store.input_generation("db1") == input);
  CHECK(text_of(store) == before);
}

TEST_CASE("metrics store: moved values are rewritten in place, volatile ones wake no rule") {
  MetricsStore store;
  store.set_volatile_metrics({"pg_probe_rtt_seconds"});
  const auto round = [](double up, double rtt) {
    SampleSink sink;
    sink.gauge("pg_up", "up", {}, up);
    sink.gauge("pg_probe_rtt_seconds", "rtt", {}, rtt);
    return sink.take();
  };
  CHECK(store.set("db", "liveness", {{"env", "prod"}}, round(1, 0.001)));
  const auto input = store.input_generation("db");
  CHECK(input > 0);
  auto generation = store.generation();

  CHECK(store.set("db", "liveness", {{"env", "prod"}}, round(1, 0.002)));
  CHECK(store.generation() > generation);
  CHECK(store.input_generation("db") == input);  // only the round trip moved
  CHECK(text_of(store).find("pg_probe_rtt_seconds{target=\"db\",env=\"prod\"} 0.002\n") !=
        std::string::npos);
  CHECK(text_of(store) == prometheus::TextSerializer().Serialize(store.Collect()));

  generation = store.generation();
  CHECK(store.set("db", "liveness", {{"env", "prod"}}, round(0, 0.002)));
  CHECK(store.generation() > generation);
  CHECK(store.input_generation("db") > input);  // pg_up is read by rules
  CHECK(text_of(store).find("pg_up{target=\"db\",env=\"prod\"} 0\n") != std::string::npos);

  // New labels on the target: the whole snapshot is written again.
  CHECK(store.set("db", "liveness", {{"env", "test"}}, round(0, 0.002)));
  CHECK(text_of(store).find("env=\"prod\"") == std::string::npos);
  CHECK(text_of(store) == prometheus::TextSerializer().Serialize(store.Collect()));
}

TEST_CASE("metrics store: removals move the generations") {
  auto store = two_targets();
  auto generation = store.generation();
  const auto input = store.input_generation("db1");
  store.retain_only("db1", {"liveness"});
  CHECK(store.generation() > generation);
  CHECK(store.input_generation("db1") > input);
  generation = store.generation();
  store.retain_only("db1", {"liveness"});  // nothing left to drop
  CHECK(store.generation() == generation);
  store.remove_target("db2");
  CHECK(store.generation() > generation);
  CHECK(store.input_generation("db2") == 0);
}

TEST_CASE("metrics store: update_gauge rewrites one unlabelled sample in place") {
  MetricsStore store;
  store.set_volatile_metrics({"pg_probe_rtt_seconds"});
  SampleSink sink;
  sink.gauge("pg_up", "up", {}, 1);
  sink.gauge("pg_probe_rtt_seconds", "rtt", {}, 0.001);
  sink.gauge("pg_connection_failure", "why", {{"reason", "none"}}, 1);
  store.set("db", "liveness", {{"env", "prod"}}, std::move(sink));
  const auto input = store.input_generation("db");
  auto generation = store.generation();
  auto serialisations = store.serialisations();

  CHECK(store.update_gauge("db", "liveness", "pg_probe_rtt_seconds", 0.004));
  CHECK(store.generation() > generation);
  CHECK(store.serialisations() == serialisations + 1);
  CHECK(store.input_generation("db") == input);  // volatile: no rule reads it
  const auto text = text_of(store);
  CHECK(text.find("pg_probe_rtt_seconds{target=\"db\",env=\"prod\"} 0.004\n") != std::string::npos);
  CHECK(text == prometheus::TextSerializer().Serialize(store.Collect()));

  // The same value again: nothing moves, nothing is written.
  generation = store.generation();
  serialisations = store.serialisations();
  CHECK(store.update_gauge("db", "liveness", "pg_probe_rtt_seconds", 0.004));
  CHECK(store.generation() == generation);
  CHECK(store.serialisations() == serialisations);

  // A metric rules read moves the input generation.
  CHECK(store.update_gauge("db", "liveness", "pg_up", 0));
  CHECK(store.input_generation("db") > input);
  CHECK(text_of(store).find("pg_up{target=\"db\",env=\"prod\"} 0\n") != std::string::npos);

  // Nothing to update in place: the caller stores the round whole.
  generation = store.generation();
  CHECK_FALSE(store.update_gauge("db", "liveness", "pg_connection_failure", 0));  // labelled
  CHECK_FALSE(store.update_gauge("db", "liveness", "pg_absent", 1));
  CHECK_FALSE(store.update_gauge("db", "replication", "pg_up", 1));
  CHECK_FALSE(store.update_gauge("other", "liveness", "pg_up", 1));
  CHECK(store.generation() == generation);
}

TEST_CASE("metrics store: lookups follow rounds in place, new rounds and removals") {
  auto store = two_targets();
  const auto value = [&](const std::string& target) {
    const auto found = store.samples(target, "pg_up");
    return found.size() == 1 ? found[0].second : -1.0;
  };
  CHECK(value("db1") == 1);
  CHECK(value("db2") == 0);
  // Same shape, new value: rewritten in place; the lookup sees the value.
  store.set("db1", "liveness", {{"env", "prod"}}, liveness_round(0));
  CHECK(value("db1") == 0);
  CHECK(store.update_gauge("db1", "liveness", "pg_up", 1));
  CHECK(value("db1") == 1);
  // The same metric from a second probe of the target: both are found.
  SampleSink other;
  other.gauge("pg_up", "up", {{"via", "pgbouncer"}}, 1);
  store.set("db1", "pgbouncer", {{"env", "prod"}}, std::move(other));
  CHECK(store.samples("db1", "pg_up").size() == 2);
  store.remove("db1", "pgbouncer");
  CHECK(value("db1") == 1);
  store.retain_only("db1", {"replication"});
  CHECK(store.samples("db1", "pg_up").empty());
  CHECK(store.samples("db1", "pg_stat_replication_replay_lag_bytes").size() == 2);
  store.remove_target("db1");
  CHECK(store.samples("db1", "pg_stat_replication_replay_lag_bytes").empty());
  store.set("db1", "liveness", {}, liveness_round(1));
  CHECK(value("db1") == 1);
  CHECK(value("db2") == 0);
  CHECK(store.samples("nobody", "pg_up").empty());
}

TEST_CASE("metrics store: new evidence with the same series swaps the evidence, not the text") {
  MetricsStore store;
  const auto round = [](double waiting, const std::string& top) {
    SampleSink sink;
    sink.gauge("pg_stat_activity_waiting_on_lock", "waiting", {}, waiting);
    sink.evidence("activity.top_sessions", top);
    return sink;
  };
  CHECK(store.set("db", "activity", {}, round(0, "pid 7 active for 3 s\n")));
  CHECK(store.samples("db", "pg_stat_activity_waiting_on_lock").size() == 1);
  const auto text = text_of(store);
  const auto generation = store.generation();
  const auto input = store.input_generation("db");
  const auto serialisations = store.serialisations();

  // The sessions aged: evidence only. It is swapped, but it is neither text
  // nor rule input (alerts read it when they fire): no generation moves.
  CHECK(store.set("db", "activity", {}, round(0, "pid 7 active for 8 s\n")));
  CHECK(store.generation() == generation);
  CHECK(store.input_generation("db") == input);
  CHECK(store.serialisations() == serialisations);
  CHECK(text_of(store) == text);
  REQUIRE(store.evidence("db", "activity") != nullptr);
  CHECK(store.evidence("db", "activity")->at("activity.top_sessions") == "pid 7 active for 8 s\n");

  // Evidence and a value together: the value's line is rewritten too.
  CHECK(store.set("db", "activity", {}, round(1, "pid 9 waits\n")));
  CHECK(store.serialisations() == serialisations + 1);
  CHECK(text_of(store).find("pg_stat_activity_waiting_on_lock{target=\"db\"} 1\n") !=
        std::string::npos);
  CHECK(text_of(store) == prometheus::TextSerializer().Serialize(store.Collect()));
  const auto found = store.samples("db", "pg_stat_activity_waiting_on_lock");
  REQUIRE(found.size() == 1);
  CHECK(found[0].second == 1);
  CHECK(store.evidence("db", "activity")->at("activity.top_sessions") == "pid 9 waits\n");
  CHECK_FALSE(store.set("db", "activity", {}, round(1, "pid 9 waits\n")));
}
