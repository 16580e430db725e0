#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "probes/log_tailer.hpp"

using pgvigil::LogTailer;
using pgvigil::RecordFormat;
using Records = std::vector<std::string>;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-tailer-XXXXXX";
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

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

void rewrite(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

LogTailer::Options options_for(const std::string& path, const std::string& state = {}) {
  LogTailer::Options options;
  options.path_or_glob = path;
  options.state_file = state;
  return options;
}

}  // namespace

TEST_CASE("split_records keeps partial lines and csv newlines inside quotes") {
  Records out;
  CHECK(pgvigil::split_records("a\nb\r\nc", RecordFormat::lines, out) == 5);
  CHECK(out == Records{"a", "b"});
  out.clear();
  std::string csv = "1,\"x\ny\",2\n3,\"open\nstill";
  auto used = pgvigil::split_records(csv, RecordFormat::csv, out);
  CHECK(out == Records{"1,\"x\ny\",2"});
  CHECK(csv.substr(used) == "3,\"open\nstill");
}

TEST_CASE("tail position state round-trips and rejects garbage") {
  pgvigil::TailPosition position{"/var/log/pg.log", 2049, 1234567, 99};
  auto parsed = pgvigil::parse_tail_position(pgvigil::format_tail_position(position));
  REQUIRE(parsed.has_value());
  CHECK(parsed->path == position.path);
  CHECK(parsed->device == 2049);
  CHECK(parsed->inode == 1234567);
  CHECK(parsed->offset == 99);
  CHECK_FALSE(pgvigil::parse_tail_position("").has_value());
  CHECK_FALSE(pgvigil::parse_tail_position("pgvigil-logtail 1\n1 2\n/x\n").has_value());
  CHECK_FALSE(pgvigil::parse_tail_position("pgvigil-logtail 1\n1 2 x\n/x\n").has_value());
  CHECK_FALSE(pgvigil::parse_tail_position("other 1\n1 2 3\n/x\n").has_value());
}

TEST_CASE("starts at the end on first sight and hands out complete lines only") {
  TempDir dir;
  auto log = dir.file("pg.log");
  rewrite(log, "old line\n");
  LogTailer tailer(options_for(log));
  CHECK(tailer.poll().records.empty());
  append(log, "a\nb");
  auto round = tailer.poll();
  CHECK(round.records == Records{"a"});
  CHECK(round.bytes_read == 3);
  append(log, "c\n");
  CHECK(tailer.poll().records == Records{"bc"});
  CHECK(tailer.poll().records.empty());
}

TEST_CASE("a missing file is an error, then followed once it appears") {
  TempDir dir;
  auto log = dir.file("pg.log");
  LogTailer tailer(options_for(log));
  CHECK_FALSE(tailer.poll().error.empty());
  rewrite(log, "before\n");
  CHECK(tailer.poll().records.empty());  // first sight: from the end
  append(log, "after\n");
  CHECK(tailer.poll().records == Records{"after"});
}

TEST_CASE("rename rotation: the old file is read to its end, then the new one from 0") {
  TempDir dir;
  auto log = dir.file("pg.log");
  rewrite(log, "");
  LogTailer tailer(options_for(log));
  tailer.poll();
  append(log, "one\n");
  CHECK(tailer.poll().records == Records{"one"});
  append(log, "two\n");
  std::filesystem::rename(log, dir.file("pg.log.1"));
  append(dir.file("pg.log.1"), "three");  // written by the server before it reopened
  rewrite(log, "four\n");
  auto round = tailer.poll();
  CHECK(round.rotated);
  CHECK(round.records == Records{"two", "three", "four"});
  append(log, "five\n");
  CHECK(tailer.poll().records == Records{"five"});
}

TEST_CASE("copytruncate: a shrunk file is read again from 0") {
  TempDir dir;
  auto log = dir.file("pg.log");
  rewrite(log, "");
  LogTailer tailer(options_for(log));
  tailer.poll();
  append(log, "a long line before truncation\n");
  CHECK(tailer.poll().records.size() == 1);
  rewrite(log, "new\n");
  auto round = tailer.poll();
  CHECK(round.truncated);
  CHECK(round.records == Records{"new"});
  CHECK(tailer.poll().records.empty());
}

TEST_CASE("a restarted tailer resumes at the saved offset") {
  TempDir dir;
  auto log = dir.file("pg.log");
  auto state = dir.file("tail.state");
  rewrite(log, "ignored\n");
  {
    LogTailer first(options_for(log, state));
    first.poll();
    append(log, "seen\npart");
    CHECK(first.poll().records == Records{"seen"});
  }
  REQUIRE(std::filesystem::exists(state));
  CHECK_FALSE(std::filesystem::exists(state + ".tmp"));
  append(log, "ial\nnew\n");
  LogTailer second(options_for(log, state));
  CHECK(second.poll().records == Records{"partial", "new"});
}

TEST_CASE("a restarted tailer finishes a file rotated while it was down") {
  TempDir dir;
  auto log = dir.file("pg.log");
  auto state = dir.file("tail.state");
  rewrite(log, "");
  {
    LogTailer first(options_for(log, state));
    first.poll();
    append(log, "a\n");
    CHECK(first.poll().records == Records{"a"});
  }
  append(log, "b\n");
  std::filesystem::rename(log, dir.file("pg.log.1"));
  rewrite(log, "c\n");
  LogTailer second(options_for(log, state));
  auto round = second.poll();
  CHECK(round.records == Records{"b", "c"});
  CHECK(round.rotated);
}

TEST_CASE("bytes per round are bounded and nothing is lost or repeated") {
  TempDir dir;
  auto log = dir.file("pg.log");
  rewrite(log, "");
  auto options = options_for(log);
  options.max_bytes_per_round = 25;
  LogTailer tailer(options);
  tailer.poll();
  Records expected;
  for (int i = 0; i < 10; ++i) {
    auto line = "line-" + std::to_string(100 + i);  // 8 bytes + newline
    expected.push_back(line);
    append(log, line + "\n");
  }
  Records got;
  for (int round = 0; round < 10; ++round) {
    auto result = tailer.poll();
    CHECK(result.bytes_read <= 25);
    got.insert(got.end(), result.records.begin(), result.records.end());
  }
  CHECK(got == expected);
}

TEST_CASE("csv records split across rounds are handed out whole") {
  TempDir dir;
  auto log = dir.file("pg.csv");
  rewrite(log, "");
  auto options = options_for(log);
  options.format = RecordFormat::csv;
  LogTailer tailer(options);
  tailer.poll();
  append(log, "t,ERROR,\"first\nsecond");
  CHECK(tailer.poll().records.empty());
  append(log, " line\"\n");
  CHECK(tailer.poll().records == Records{"t,ERROR,\"first\nsecond line\""});
}

TEST_CASE("a record longer than the partial cap is cut and handed out") {
  TempDir dir;
  auto log = dir.file("pg.log");
  rewrite(log, "");
  auto options = options_for(log);
  options.max_partial_bytes = 16;
  LogTailer tailer(options);
  tailer.poll();
  append(log, std::string(40, 'x'));
  auto round = tailer.poll();
  REQUIRE(round.records.size() == 1);
  CHECK(round.records[0] == std::string(16, 'x'));
  append(log, "\nnext\n");
  CHECK(tailer.poll().records == Records{"next"});
}

TEST_CASE("a glob follows the newest match and switches after draining the old one") {
  TempDir dir;
  auto older = dir.file("postgresql-1.log");
  auto newer = dir.file("postgresql-2.log");
  rewrite(older, "");
  LogTailer tailer(options_for(dir.file("postgresql-*.log")));
  tailer.poll();
  append(older, "from older\n");
  rewrite(newer, "from newer\n");
  // Make the order unambiguous even on coarse timestamps.
  std::filesystem::last_write_time(
      older, std::filesystem::last_write_time(newer) - std::chrono::seconds(10));
  auto round = tailer.poll();
  CHECK(round.records == Records{"from older", "from newer"});
  CHECK(tailer.position().path == newer);
}

TEST_CASE("a saved position for another file is ignored: the new file starts at its end") {
  TempDir dir;
  auto state = dir.file("tail.state");
  auto old_log = dir.file("old.log");
  auto new_log = dir.file("new.log");
  rewrite(old_log, "");
  {
    LogTailer first(options_for(old_log, state));
    first.poll();
    append(old_log, "x\n");
    first.poll();
  }
  rewrite(new_log, "history that predates pgvigil watching it\n");
  LogTailer second(options_for(new_log, state));
  CHECK(second.poll().records.empty());
  append(new_log, "fresh\n");
  CHECK(second.poll().records == Records{"fresh"});
}
