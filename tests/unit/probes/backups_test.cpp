#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "probes/backups.hpp"

using pgvigil::BackupFile;
using pgvigil::HostContext;
using pgvigil::SampleSink;

namespace {

constexpr double kNow = 1'800'000'000;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-backups-XXXXXX";
    char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

void make_file(const std::filesystem::path& path, std::size_t size, double mtime) {
  std::ofstream(path, std::ios::binary) << std::string(size, 'b');
  timeval times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_usec = times[1].tv_usec = 0;
  REQUIRE(::utimes(path.c_str(), times) == 0);
}

pgvigil::config::BackupConfig limits(double max_age_seconds, std::uint64_t min_size) {
  pgvigil::config::BackupConfig backup;
  backup.glob = "/x/*";
  backup.max_age = pgvigil::config::Duration{static_cast<long long>(max_age_seconds * 1000)};
  backup.min_size_bytes = min_size;
  return backup;
}

}  // namespace

TEST_CASE("the newest file decides, stale when missing, old or small") {
  std::vector<BackupFile> files{
      {"/x/a", 100, kNow - 7200}, {"/x/b", 50, kNow - 600}, {"/x/c", 900, kNow - 90000}};
  auto fresh = pgvigil::evaluate_backups(files, limits(3600, 10), kNow);
  CHECK(fresh.files == 3);
  REQUIRE(fresh.newest.has_value());
  CHECK(fresh.newest->path == "/x/b");
  CHECK_FALSE(fresh.stale);

  auto too_small = pgvigil::evaluate_backups(files, limits(3600, 51), kNow);
  CHECK(too_small.stale);
  CHECK(too_small.reason.find("smaller") != std::string::npos);

  auto too_old = pgvigil::evaluate_backups(files, limits(300, 0), kNow);
  CHECK(too_old.stale);
  CHECK(too_old.reason.find("older") != std::string::npos);

  auto none = pgvigil::evaluate_backups({}, limits(3600, 0), kNow);
  CHECK(none.stale);
  CHECK(none.files == 0);
  CHECK_FALSE(none.newest.has_value());
}

TEST_CASE("ages read like a person writes them") {
  CHECK(pgvigil::format_age(42) == "42s");
  CHECK(pgvigil::format_age(125) == "2m 5s");
  CHECK(pgvigil::format_age(2 * 3600 + 300) == "2h 5m");
  CHECK(pgvigil::format_age(3 * 86400 + 4 * 3600) == "3d 4h");
  CHECK(pgvigil::format_age(-30) == "-30s");
}

TEST_CASE("backups probe reads real files through the glob") {
  TempDir dir;
  make_file(dir.path / "db-1.sql.gz", 2000, kNow - 3 * 86400);
  make_file(dir.path / "db-2.sql.gz", 3000, kNow - 3600);
  make_file(dir.path / "notes.txt", 1, kNow);
  std::filesystem::create_directory(dir.path / "db-3.sql.gz");  // not a regular file

  pgvigil::config::TargetConfig target;
  auto glob = (dir.path / "db-*.sql.gz").string();
  auto empty_glob = (dir.path / "none-*.dump").string();
  target.backups.push_back(limits(86400, 1000));
  target.backups.back().glob = glob;
  target.backups.push_back(limits(86400, 0));
  target.backups.back().glob = empty_glob;
  HostContext ctx{target, "", "", dir.path.string(),
                  std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000))};
  SampleSink sink;
  pgvigil::BackupsProbe().collect(ctx, sink);

  CHECK(sink.find("pg_backup_files", {{"glob", glob}})->gauge.value == 2);
  CHECK(sink.find("pg_backup_last_timestamp_seconds", {{"glob", glob}})->gauge.value ==
        kNow - 3600);
  CHECK(sink.find("pg_backup_last_size_bytes", {{"glob", glob}})->gauge.value == 3000);
  CHECK(sink.find("pg_backup_stale", {{"glob", glob}})->gauge.value == 0);
  CHECK(sink.find("pg_backup_max_age_seconds", {{"glob", glob}})->gauge.value == 86400);

  CHECK(sink.find("pg_backup_files", {{"glob", empty_glob}})->gauge.value == 0);
  CHECK(sink.find("pg_backup_stale", {{"glob", empty_glob}})->gauge.value == 1);
  CHECK(sink.find("pg_backup_last_timestamp_seconds", {{"glob", empty_glob}}) == nullptr);
  CHECK(sink.find("pg_backup_last_size_bytes", {{"glob", empty_glob}}) == nullptr);

  auto evidence = sink.evidence().at("backups.newest");
  CHECK(evidence.find("db-2.sql.gz, 3000 bytes, age 1h 0m") != std::string::npos);
  CHECK(evidence.find(empty_glob + ": no backup file (stale") != std::string::npos);
}

TEST_CASE("backups probe emits nothing without configured backups") {
  pgvigil::config::TargetConfig target;
  HostContext ctx{target, "", "", "/tmp", std::chrono::system_clock::now()};
  SampleSink sink;
  pgvigil::BackupsProbe().collect(ctx, sink);
  CHECK(sink.empty());
}
