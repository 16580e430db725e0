#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "probes/log_classifier.hpp"
#include "probes/log_tailer.hpp"
#include "probes/logs.hpp"

using pgvigil::HostContext;
using pgvigil::SampleSink;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-logs-XXXXXX";
    char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/logs/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

double counter(const SampleSink& sink, const std::string& severity, const std::string& klass) {
  auto* metric = sink.find("pg_log_messages_total", {{"severity", severity}, {"class", klass}});
  return metric == nullptr ? -1 : metric->counter.value;
}

// What the probe should count for these records, computed independently.
std::map<std::pair<std::string, std::string>, double> expected_counts(
    const std::vector<std::string>& records) {
  std::map<std::pair<std::string, std::string>, double> counts;
  for (const auto& record : records) {
    auto result = pgvigil::classify_log_line(record);
    if (!result.severity.empty()) counts[{result.severity, std::string(result.log_class)}] += 1;
  }
  return counts;
}

struct Harness {
  TempDir dir;
  pgvigil::config::TargetConfig target;
  pgvigil::LogsProbe probe;
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'800'000'000)};

  explicit Harness(const std::string& log_name) {
    target.name = "main db";
    target.log = pgvigil::config::LogScanConfig{dir.file(log_name), 4 * 1024 * 1024};
  }
  SampleSink round() {
    now += std::chrono::seconds(5);
    HostContext ctx{target, "", "", dir.path.string(), now};
    SampleSink sink;
    probe.collect(ctx, sink);
    return sink;
  }
};

}  // namespace

TEST_CASE("logs probe emits nothing without a configured log") {
  pgvigil::config::TargetConfig target;
  HostContext ctx{target, "", "", "/tmp", std::chrono::system_clock::now()};
  SampleSink sink;
  pgvigil::LogsProbe().collect(ctx, sink);
  CHECK(sink.empty());
}

TEST_CASE("logs probe counts real messages by severity and class, with zeros for rate()") {
  Harness h("pg.log");
  append(h.target.log->path, "");
  auto first = h.round();
  CHECK(counter(first, "FATAL", "corruption") == 0);
  CHECK(counter(first, "PANIC", "disk_full") == 0);
  CHECK(counter(first, "ERROR", "other") == 0);
  CHECK(first.find("pg_log_lines_read_total")->counter.value == 0);

  auto text = read_fixture("primary_stderr.log");
  append(h.target.log->path, text);
  auto sink = h.round();
  std::vector<std::string> records;
  pgvigil::split_records(text, pgvigil::RecordFormat::lines, records);
  for (const auto& [key, value] : expected_counts(records)) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    CHECK(counter(sink, key.first, key.second) == value);
  }
  CHECK(counter(sink, "FATAL", "auth_failed") == 2);
  CHECK(counter(sink, "ERROR", "deadlock") == 1);
  CHECK(sink.find("pg_log_lines_read_total")->counter.value == static_cast<double>(records.size()));
  CHECK(sink.find("pg_log_bytes_read_total")->counter.value == static_cast<double>(text.size()));
  // The out-of-memory report's memory context dump has two unprefixed lines.
  CHECK(sink.find("pg_log_unparsed_lines_total")->counter.value == 2);
  auto* last = sink.find("pg_log_last_message_timestamp_seconds", {{"class", "deadlock"}});
  REQUIRE(last != nullptr);
  CHECK(last->gauge.value == doctest::Approx(1'800'000'010.0));
  auto evidence = sink.evidence().find("logs.last.deadlock");
  REQUIRE(evidence != sink.evidence().end());
  CHECK(evidence->second.find("deadlock detected") != std::string::npos);

  // Counters are cumulative: a quiet round repeats the same values.
  auto quiet = h.round();
  CHECK(counter(quiet, "FATAL", "auth_failed") == 2);
  CHECK(quiet.evidence().count("logs.last.deadlock") == 1);
}

TEST_CASE("csvlog records spanning lines are counted once each") {
  Harness h("pg.csv");
  append(h.target.log->path, "");
  h.round();
  auto text = read_fixture("primary.csv");
  // Feed it in uneven pieces so records are cut mid-line and mid-quote.
  SampleSink sink;
  for (std::size_t at = 0; at < text.size(); at += 777) {
    append(h.target.log->path, text.substr(at, 777));
    sink = h.round();
  }
  std::vector<std::string> records;
  pgvigil::split_records(text, pgvigil::RecordFormat::csv, records);
  for (const auto& [key, value] : expected_counts(records)) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    CHECK(counter(sink, key.first, key.second) == value);
  }
  CHECK(counter(sink, "ERROR", "corruption") == 3);
  CHECK(sink.find("pg_log_unparsed_lines_total")->counter.value == 0);
}

TEST_CASE("rotation and copytruncate lose and repeat nothing, a restart resumes") {
  Harness h("pg.log");
  const auto& path = h.target.log->path;
  append(path, "");
  h.round();
  const std::string fatal =
      "2026-11-22 05:42:08.138 UTC [1] 28P01 FATAL:  password "
      "authentication failed for user \"postgres\"\n";
  append(path, fatal + fatal);
  h.round();
  append(path, fatal);
  std::filesystem::rename(path, h.dir.file("pg.log.1"));  // rename rotation
  append(path, fatal);
  CHECK(counter(h.round(), "FATAL", "auth_failed") == 4);
  // copytruncate: the content was copied away and the file emptied.
  // (Rotation tools truncate a file that grew; shorter content is what is
  // seen next. Content of the very same size cannot be told apart by size.)
  std::filesystem::resize_file(path, 0);
  append(path, "2026-11-22 05:42:09 UTC [2] 28P01 FATAL:  password authentication failed\n");
  CHECK(counter(h.round(), "FATAL", "auth_failed") == 5);

  // A new probe instance (a daemon restart) with the same state directory.
  append(path, fatal);
  pgvigil::LogsProbe restarted;
  HostContext ctx{h.target, "", "", h.dir.path.string(), h.now};
  SampleSink sink;
  restarted.collect(ctx, sink);
  CHECK(counter(sink, "FATAL", "auth_failed") == 1);  // only the line written since
  CHECK(std::filesystem::exists(h.dir.file(pgvigil::LogsProbe::state_file_name("main db"))));
}

TEST_CASE("evidence is masked") {
  Harness h("pg.log");
  append(h.target.log->path, "");
  h.round();
  append(h.target.log->path,
         "2026-11-22 05:42:08.138 UTC [1] 08006 FATAL:  could not connect to the primary server: "
         "postgresql://rep:hunter2@primary/x password=hunter2\n");
  auto sink = h.round();
  auto evidence = sink.evidence().find("logs.last.replication");
  REQUIRE(evidence != sink.evidence().end());
  CHECK(evidence->second.find("hunter2") == std::string::npos);
}

TEST_CASE("state file names are safe") {
  CHECK(pgvigil::LogsProbe::state_file_name("a/../b c") == "logs-a_.._b_c.state");
}
