// LivenessState's view of the cluster's identity across connections.
#include <doctest/doctest.h>

#include "probes/liveness.hpp"

using namespace std::chrono_literals;
using pgvigil::LivenessState;
using pgvigil::SampleSink;
using pgvigil::ServerInfo;

namespace {

const LivenessState::TimePoint kStart{std::chrono::seconds(1'800'000'000)};

ServerInfo server(const std::string& system_identifier) {
  ServerInfo info;
  info.version_num = 150018;
  info.version = "15.18 (Debian 15.18-0+deb12u1)";
  info.system_identifier = system_identifier;
  return info;
}

// Connected and answering, with the facts of `info`.
void connect(LivenessState& state, const ServerInfo& info, LivenessState::TimePoint now,
             double postmaster_start = 1'799'990'000.0) {
  state.on_connect({true, pgvigil::FailureReason::none, pgvigil::PingStatus::ok, "", "", 1ms}, now);
  state.on_server_info(info, postmaster_start, now);
  state.on_ping(1ms, false, now);
}

}  // namespace

TEST_CASE("system identifier: a label while up, a counter of changes across connections") {
  LivenessState state(kStart);
  connect(state, server("7310911151990065749"), kStart);
  {
    SampleSink sink;
    state.emit(sink);
    const auto* info =
        sink.find("pg_control_system_info", {{"system_identifier", "7310911151990065749"}});
    REQUIRE(info != nullptr);
    CHECK(info->gauge.value == 1);
    const auto* changes = sink.find("pg_system_identifier_changes_total");
    REQUIRE(changes != nullptr);
    CHECK(changes->counter.value == 0);
    CHECK(sink.evidence().at("server.system_identifier") ==
          "system identifier now: 7310911151990065749\n");
  }
  // A reconnect to the same cluster, then one where the identifier could not be read.
  state.on_lost(kStart + 10s);
  connect(state, server("7310911151990065749"), kStart + 11s);
  state.on_lost(kStart + 20s);
  connect(state, server(""), kStart + 21s);
  CHECK(state.system_identifier_changes() == 0);
  // Another cluster on the same address.
  state.on_lost(kStart + 30s);
  connect(state, server("7310999999999999999"), kStart + 31s);
  CHECK(state.system_identifier_changes() == 1);
  SampleSink sink;
  state.emit(sink);
  CHECK(sink.find("pg_control_system_info", {{"system_identifier", "7310999999999999999"}}) !=
        nullptr);
  CHECK(sink.series_count("pg_control_system_info") == 1);
  CHECK(sink.find("pg_system_identifier_changes_total")->counter.value == 1);
  const auto& evidence = sink.evidence().at("server.system_identifier");
  CHECK(evidence.find("previous system identifier: 7310911151990065749") != std::string::npos);
  CHECK(evidence.find("now: 7310999999999999999") != std::string::npos);
  CHECK(evidence.find("changed at: 2027-01-15 08:00:31 UTC") != std::string::npos);
  // Down: the counter stays (the rule must see it), the label goes.
  state.on_lost(kStart + 40s);
  SampleSink down;
  state.emit(down);
  CHECK(down.find("pg_system_identifier_changes_total")->counter.value == 1);
  CHECK(down.series_count("pg_control_system_info") == 0);
}

TEST_CASE("postmaster restarts: counted when the start time read at a connection moved") {
  LivenessState state(kStart);
  connect(state, server("1"), kStart, 1'799'990'000.5);
  state.on_lost(kStart + 1s);
  connect(state, server("1"), kStart + 2s, 1'799'990'000.5);  // a reconnect, same postmaster
  {
    SampleSink sink;
    state.emit(sink);
    CHECK(sink.find("pg_postmaster_restarts_total")->counter.value == 0);
    CHECK(sink.evidence().count("server.restart") == 0);
  }
  state.on_lost(kStart + 3s);
  connect(state, server("1"), kStart + 4s, 1'800'000'003.25);
  state.on_lost(kStart + 5s);
  SampleSink sink;
  state.emit(sink);  // down: the counter stays
  CHECK(sink.find("pg_postmaster_restarts_total")->counter.value == 1);
  CHECK(sink.series_count("pg_postmaster_start_time_seconds") == 0);
  CHECK(sink.evidence().at("server.restart") ==
        "postmaster start time before: 2027-01-15 05:13:20 UTC\n"
        "postmaster start time now: 2027-01-15 08:00:03 UTC\n"
        "restarts seen since pgvigil started: 1\n");
}

TEST_CASE("reason: connecting until the first attempt ends, then the attempt's cause") {
  LivenessState state(kStart);
  CHECK_FALSE(state.up());
  CHECK(state.reason() == pgvigil::FailureReason::connecting);
  {
    SampleSink sink;
    state.emit(sink);
    const auto* connecting = sink.find("pg_connection_failure", {{"reason", "connecting"}});
    REQUIRE(connecting != nullptr);
    CHECK(connecting->gauge.value == 1);
    const auto* none = sink.find("pg_connection_failure", {{"reason", "none"}});
    REQUIRE(none != nullptr);
    CHECK(none->gauge.value == 0);
    // Waiting for the first answer is not a failed attempt.
    CHECK(sink.find("pg_connection_failures_total", {{"reason", "connecting"}}) == nullptr);
  }
  pgvigil::ConnectOutcome refused;
  refused.reason = pgvigil::FailureReason::refused;
  refused.ping = pgvigil::PingStatus::no_response;
  refused.message = "connection refused";
  state.on_connect(refused, kStart + 1s);
  CHECK(state.reason() == pgvigil::FailureReason::refused);
}

TEST_CASE("reason: a connection lost to the query deadline is a timeout at once") {
  LivenessState state(kStart);
  connect(state, server("7310911151990065749"), kStart);
  REQUIRE(state.up());
  state.on_lost(kStart + 5s, pgvigil::FailureReason::timeout,
                "no answer within the query deadline");
  CHECK_FALSE(state.up());
  CHECK(state.reason() == pgvigil::FailureReason::timeout);
  CHECK(state.ping() == pgvigil::PingStatus::no_response);
  CHECK(state.last_error().find("query deadline") != std::string::npos);
  // A loss whose cause is unknown stays "other".
  connect(state, server("7310911151990065749"), kStart + 6s);
  state.on_lost(kStart + 7s);
  CHECK(state.reason() == pgvigil::FailureReason::other);
}

namespace {

// What emit() shows, but the round-trip time: one line per sample.
std::string shown_except_rtt(const LivenessState& state) {
  SampleSink sink;
  state.emit(sink);
  std::string text;
  for (const auto& [key, value] : sink.evidence()) text += key + "=" + value + "\n";
  for (const auto& family : sink.take()) {
    if (family.name == "pg_probe_rtt_seconds") continue;
    for (const auto& metric : family.metric) {
      text += family.name;
      for (const auto& label : metric.label) text += " " + label.name + "=" + label.value;
      text += " " + std::to_string(pgvigil::sample_value(family, metric)) + "\n";
    }
  }
  return text;
}

}  // namespace

TEST_CASE("revision: ticks that move only the round trip keep it and other changes move it") {
  LivenessState state(kStart);
  connect(state, server("7301"), kStart);
  auto revision = state.revision();
  auto shown = shown_except_rtt(state);

  // Healthy ticks: the round trip moves, nothing else does.
  for (auto rtt : {2ms, 3ms, 1ms}) {
    state.on_ping(rtt, false, kStart + 1s);
    CHECK(state.revision() == revision);
    CHECK(shown_except_rtt(state) == shown);
    REQUIRE(state.rtt_seconds().has_value());
    CHECK(*state.rtt_seconds() == doctest::Approx(std::chrono::duration<double>(rtt).count()));
  }

  // A failover: the role flips.
  state.on_ping(1ms, true, kStart + 2s);
  CHECK(state.revision() > revision);
  CHECK(shown_except_rtt(state) != shown);
  revision = state.revision();
  shown = shown_except_rtt(state);

  state.on_lost(kStart + 3s, pgvigil::FailureReason::refused, "connection refused");
  CHECK(state.revision() > revision);
  CHECK(shown_except_rtt(state) != shown);
  revision = state.revision();

  // Back: the first answer moves it (pg_up), the next ones do not.
  state.on_ping(1ms, true, kStart + 4s);
  CHECK(state.revision() > revision);
  revision = state.revision();
  state.on_ping(5ms, true, kStart + 5s);
  CHECK(state.revision() == revision);

  // A new connection re-reads the server's facts: always a new revision.
  connect(state, server("7301"), kStart + 6s);
  CHECK(state.revision() > revision);
}
