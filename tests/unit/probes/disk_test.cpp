#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "probes/disk.hpp"

using pgvigil::HostContext;
using pgvigil::SampleSink;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(PGVIGIL_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/pgvigil-disk-XXXXXX";
    char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

TEST_CASE("mountinfo is parsed with escapes and optional fields") {
  auto mounts = pgvigil::parse_mountinfo(read_fixture("proc/mountinfo"));
  REQUIRE(mounts.size() == 10);  // the garbage line is skipped
  CHECK(mounts[5].mount_point == "/");
  CHECK(mounts[5].fs_type == "ext4");
  CHECK(mounts[6].mount_point == "/mnt/pg data");
  CHECK(mounts[7].mount_point == "/mnt/pg data/wal");
  CHECK(mounts[7].fs_type == "xfs");  // after two optional fields
  CHECK(mounts[7].source == "/dev/sdc1");
  CHECK(mounts[9].root == "/exports");
}

TEST_CASE("the longest matching mount point holds a path") {
  auto mounts = pgvigil::parse_mountinfo(read_fixture("proc/mountinfo"));
  auto at = [&](std::string_view path) {
    auto* mount = pgvigil::find_mount_for(mounts, path);
    return mount == nullptr ? std::string("none") : mount->mount_point;
  };
  CHECK(at("/mnt/pg data/15/main") == "/mnt/pg data");
  CHECK(at("/mnt/pg data/wal/pg_wal") == "/mnt/pg data/wal");
  CHECK(at("/mnt/pg data/wal") == "/mnt/pg data/wal");
  CHECK(at("/mnt/pg datadir") == "/");  // a prefix of a name is not a parent
  CHECK(at("/var/lib/postgresql") == "/");
  auto* srv = pgvigil::find_mount_for(mounts, "/srv/x");
  REQUIRE(srv != nullptr);
  CHECK(srv->fs_type == "nfs4");  // the mount on top of a stacked pair
  CHECK(pgvigil::find_mount_for({}, "/x") == nullptr);
}

TEST_CASE("unescape leaves malformed escapes alone") {
  CHECK(pgvigil::unescape_mount_field("a\\040b\\011c\\134d") == "a b\tc\\d");
  CHECK(pgvigil::unescape_mount_field("x\\04") == "x\\04");
  CHECK(pgvigil::unescape_mount_field("x\\999") == "x\\999");
}

TEST_CASE("used ratio is computed as df does") {
  pgvigil::FilesystemUsage usage;
  usage.size_bytes = 1000;
  usage.free_bytes = 300;   // 700 used
  usage.avail_bytes = 250;  // 50 reserved for root
  CHECK(pgvigil::used_ratio(usage) == doctest::Approx(700.0 / 950.0));
  CHECK(pgvigil::used_ratio(pgvigil::FilesystemUsage{}) == 0);
}

TEST_CASE("disk probe reports the data, WAL and extra filesystems, and pg_wal's size") {
  TempDir dir;
  auto data = dir.path / "data";
  std::filesystem::create_directories(data);
  auto wal_target = dir.path / "wal-elsewhere";
  std::filesystem::create_directories(wal_target / "archive_status");
  std::filesystem::create_directory_symlink(wal_target, data / "pg_wal");
  {
    std::ofstream(wal_target / "000000010000000000000001") << std::string(1000, 'w');
    std::ofstream(wal_target / "000000010000000000000002") << std::string(500, 'w');
  }
  pgvigil::config::TargetConfig target;
  target.extra_paths = {dir.path.string(), (dir.path / "missing").string()};
  pgvigil::DiskProbe probe;
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  HostContext ctx{target, data.string(), "", dir.path.string(), now};
  SampleSink sink;
  probe.collect(ctx, sink);

  CHECK(sink.series_count("pg_filesystem_size_bytes") == 3);
  CHECK(sink.find("pg_filesystem_readable", {{"path", data.string()}, {"role", "data"}})
            ->gauge.value == 1);
  auto wal_path = (data / "pg_wal").string();
  CHECK(sink.find("pg_filesystem_readable", {{"path", wal_path}, {"role", "wal"}})->gauge.value ==
        1);
  auto missing = (dir.path / "missing").string();
  CHECK(sink.find("pg_filesystem_readable", {{"path", missing}, {"role", "extra"}})->gauge.value ==
        0);
  CHECK(sink.find("pg_wal_directory_size_bytes")->gauge.value == 1500);
  CHECK(sink.find("pg_wal_directory_files")->gauge.value == 2);

  const auto& family = sink.families();
  bool checked = false;
  for (const auto& f : family) {
    if (f.name != "pg_filesystem_used_ratio") continue;
    for (const auto& metric : f.metric) {
      CHECK(metric.gauge.value >= 0);
      CHECK(metric.gauge.value <= 1);
      bool has_mountpoint = false;
      for (const auto& label : metric.label)
        if (label.name == "mountpoint") has_mountpoint = label.value.starts_with("/");
      CHECK(has_mountpoint);
      checked = true;
    }
  }
  CHECK(checked);
  // One round is not a trend.
  CHECK(sink.series_count("pg_filesystem_predicted_full_timestamp_seconds") == 0);
}

TEST_CASE("disk probe emits nothing when no path is known") {
  pgvigil::config::TargetConfig target;
  HostContext ctx{target, "", "", "/tmp", std::chrono::system_clock::now()};
  SampleSink sink;
  pgvigil::DiskProbe().collect(ctx, sink);
  CHECK(sink.empty());
}

TEST_CASE("disk probe's slope appears once enough rounds span enough time") {
  TempDir dir;
  pgvigil::config::TargetConfig target;
  target.extra_paths = {dir.path.string()};
  pgvigil::DiskProbe probe;
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  SampleSink sink;
  for (int round = 0; round < 6; ++round) {
    sink = SampleSink{};
    HostContext ctx{target, "", "", dir.path.string(), now + std::chrono::seconds(15 * round)};
    probe.collect(ctx, sink);
  }
  CHECK(sink.series_count("pg_filesystem_avail_bytes_slope") == 1);
}

TEST_CASE("configured data and WAL directories override the discovered ones") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "wal");
  pgvigil::config::TargetConfig target;
  target.data_directory = dir.path.string();
  target.wal_directory = (dir.path / "wal").string();
  HostContext ctx{target, "/nonexistent/discovered", "", dir.path.string(),
                  std::chrono::system_clock::now()};
  SampleSink sink;
  pgvigil::DiskProbe().collect(ctx, sink);
  CHECK(sink.find("pg_filesystem_readable", {{"path", dir.path.string()}, {"role", "data"}})
            ->gauge.value == 1);
  CHECK(
      sink.find("pg_filesystem_readable", {{"path", (dir.path / "wal").string()}, {"role", "wal"}})
          ->gauge.value == 1);
  CHECK(sink.find("pg_wal_directory_size_bytes")->gauge.value == 0);
}

TEST_CASE("disk probe: targets watching one pg_wal share its size for a quarter interval") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "pg_wal");
  pgvigil::config::TargetConfig target;
  const auto now = std::chrono::system_clock::now();
  auto wal_files = [&](std::chrono::system_clock::time_point at) {
    HostContext ctx{target, dir.path.string(), "", dir.path.string(), at, std::chrono::seconds(15)};
    SampleSink sink;
    pgvigil::DiskProbe().collect(ctx, sink);
    CHECK(sink.find("pg_filesystem_readable", {{"path", dir.path.string()}, {"role", "data"}})
              ->gauge.value == 1);
    return sink.find("pg_wal_directory_files")->gauge.value;
  };
  CHECK(wal_files(now) == 0);
  std::ofstream(dir.path / "pg_wal" / "000000010000000000000001") << "w";
  CHECK(wal_files(now + std::chrono::seconds(1)) == 0);  // another target's reading
  CHECK(wal_files(now + std::chrono::seconds(3)) == 1);  // older than 2 s: read again
}
