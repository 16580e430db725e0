#pragma once
// The "disk" host probe: space and inodes of the filesystems holding the data
// directory, the WAL directory and extra paths, the size of pg_wal, and a
// forecast of when each filesystem fills up.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/fill_forecast.hpp"
#include "probes/probe.hpp"

namespace pgvigil {

struct MountEntry {
  std::string mount_point;  // unescaped (\040 -> space)
  std::string root;         // the mounted subtree of the source filesystem
  std::string fs_type;
  std::string source;
};

// Parses /proc/self/mountinfo (proc(5)); malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);
// Undoes the kernel's octal escapes in mountinfo fields (\040 space, \011
// tab, \012 newline, \134 backslash).
std::string unescape_mount_field(std::string_view field);
// The mount holding an absolute, symlink-free path: the longest mount point
// that is the path or a parent directory of it; for stacked mounts on the
// same point, the last one (on top). nullptr when none matches.
const MountEntry* find_mount_for(std::span<const MountEntry> mounts, std::string_view path);

struct FilesystemUsage {
  std::uint64_t size_bytes = 0;
  std::uint64_t free_bytes = 0;   // including blocks reserved for root
  std::uint64_t avail_bytes = 0;  // what an unprivileged user (postgres) may use
  std::uint64_t files = 0;
  std::uint64_t files_free = 0;
};

// Use% as df computes it: used / (used + avail), used = size - free. 0 for an
// empty filesystem.
double used_ratio(const FilesystemUsage& usage) noexcept;

class DiskProbe final : public HostProbe {
 public:
  explicit DiskProbe(ForecastOptions forecast_options = {}) : forecast_options_(forecast_options) {}
  std::string_view name() const noexcept override { return "disk"; }
  config::Duration default_interval() const noexcept override { return config::Duration{15'000}; }
  void collect(const HostContext& ctx, SampleSink& out) override;

 private:
  ForecastOptions forecast_options_;
  std::map<std::string, FillForecaster> forecasters_;  // by role + path
};

std::unique_ptr<HostProbe> make_disk_probe();

}  // namespace pgvigil
