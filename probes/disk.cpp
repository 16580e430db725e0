#include "probes/disk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "probes/bounded_read.hpp"
#include "probes/shared_reading.hpp"

namespace pgvigil {

namespace {

constexpr std::size_t kMaxMountinfoBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxWalEntries = 100'000;

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    auto end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

std::string read_whole(const std::string& path, std::size_t max_bytes) {
  int error = 0;
  return read_bounded(path, max_bytes, error).value_or(std::string{});
}

std::optional<std::string> real_path(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return std::nullopt;
  return std::string(resolved);
}

struct WalDirectory {
  double bytes = 0;
  double files = 0;
  bool truncated = false;
};

// Regular files directly in pg_wal (segments, history, partial); subdirectories
// (archive_status, summaries) are not walked. Bounded by entry count.
std::optional<WalDirectory> measure_wal_directory(const std::string& path, std::string& error) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  WalDirectory result;
  int dir_fd = ::dirfd(dir);
  std::size_t seen = 0;
  while (auto* entry = ::readdir(dir)) {
    if (++seen > kMaxWalEntries) {
      result.truncated = true;
      break;
    }
    struct stat st {};
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    result.bytes += static_cast<double>(st.st_size);
    result.files += 1;
  }
  ::closedir(dir);
  return result;
}

struct WatchedPath {
  std::string path;  // as configured or discovered: the series' label
  std::string role;
};

}  // namespace

std::string unescape_mount_field(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto digits = field.substr(i + 1, 3);
      bool octal = digits.size() == 3 && std::all_of(digits.begin(), digits.end(),
                                                     [](char c) { return c >= '0' && c <= '7'; });
      if (octal) {
        int value = (digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0');
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> mounts;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    auto fields = split_spaces(line);
    std::size_t separator = 6;
    while (separator < fields.size() && fields[separator] != "-") ++separator;
    if (fields.size() < 6 || separator + 2 >= fields.size()) continue;
    MountEntry entry;
    entry.root = unescape_mount_field(fields[3]);
    entry.mount_point = unescape_mount_field(fields[4]);
    entry.fs_type = unescape_mount_field(fields[separator + 1]);
    entry.source = unescape_mount_field(fields[separator + 2]);
    if (entry.mount_point.empty() || entry.mount_point.front() != '/') continue;
    mounts.push_back(std::move(entry));
  }
  return mounts;
}

const MountEntry* find_mount_for(std::span<const MountEntry> mounts, std::string_view path) {
  const MountEntry* best = nullptr;
  for (const auto& mount : mounts) {
    std::string_view point = mount.mount_point;
    bool contains =
        point == "/" || path == point ||
        (path.size() > point.size() && path.starts_with(point) && path[point.size()] == '/');
    if (!contains) continue;
    if (best == nullptr || point.size() >= best->mount_point.size()) best = &mount;
  }
  return best;
}

double used_ratio(const FilesystemUsage& usage) noexcept {
  if (usage.size_bytes < usage.free_bytes) return 0;
  double used = static_cast<double>(usage.size_bytes - usage.free_bytes);
  double denominator = used + static_cast<double>(usage.avail_bytes);
  return denominator > 0 ? used / denominator : 0;
}

namespace {

// What one path's filesystem looks like; the same for every target that
// watches the path.
struct PathReading {
  bool readable = false;
  std::string error;  // why not, when not readable
  FilesystemUsage usage;
  std::string mount_point;  // "" when no mount holds it
};

struct WalReading {
  std::optional<WalDirectory> measured;
  std::string error;
};

using MountTable = std::shared_ptr<const std::vector<MountEntry>>;

PathReading read_path(const std::string& path, SharedReadings<MountTable>& mount_tables,
                      std::chrono::system_clock::time_point now,
                      std::chrono::milliseconds max_age) {
  PathReading reading;
  struct statvfs vfs {};
  // statvfs follows symlinks, so a pg_wal symlink reports the WAL filesystem.
  if (::statvfs(path.c_str(), &vfs) != 0) {
    reading.error = std::strerror(errno);
    return reading;
  }
  reading.readable = true;
  auto fragment = static_cast<std::uint64_t>(vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize);
  reading.usage.size_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * fragment;
  reading.usage.free_bytes = static_cast<std::uint64_t>(vfs.f_bfree) * fragment;
  reading.usage.avail_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * fragment;
  reading.usage.files = static_cast<std::uint64_t>(vfs.f_files);
  reading.usage.files_free = static_cast<std::uint64_t>(vfs.f_ffree);
  if (auto resolved = real_path(path)) {
    auto mounts = mount_tables.get("", now, max_age, [] {
      return std::make_shared<const std::vector<MountEntry>>(
          parse_mountinfo(read_whole("/proc/self/mountinfo", kMaxMountinfoBytes)));
    });
    if (const MountEntry* mount = find_mount_for(*mounts, *resolved))
      reading.mount_point = mount->mount_point;
  }
  return reading;
}

}  // namespace

void DiskProbe::collect(const HostContext& ctx, SampleSink& out) {
  // Configured overrides win over what the server reported.
  std::string data = ctx.target.data_directory.value_or(ctx.data_directory);
  std::string wal = ctx.target.wal_directory.value_or(ctx.wal_directory);
  std::vector<WatchedPath> watched;
  if (!data.empty()) watched.push_back({data, "data"});
  if (wal.empty() && !data.empty()) wal = data + "/pg_wal";
  if (!wal.empty()) watched.push_back({wal, "wal"});
  for (const auto& extra : ctx.target.extra_paths)
    if (!extra.empty()) watched.push_back({extra, "extra"});
  if (watched.empty()) return;

  // Shared with the other targets of the same host (shared_reading.hpp).
  static SharedReadings<MountTable> mount_tables(std::chrono::minutes(1));
  static SharedReadings<PathReading> paths(std::chrono::minutes(1));
  static SharedReadings<WalReading> wal_directories(std::chrono::minutes(1));
  const auto max_age = shared_reading_max_age(ctx.interval);
  double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();

  for (const auto& watched_path : watched) {
    // Named, not a structured binding: the lambda below captures it (clang
    // before 16 cannot capture a binding).
    const std::string& path = watched_path.path;
    const std::string& role = watched_path.role;
    Labels readable_labels{{"path", path}, {"role", role}};
    auto reading = paths.get(path, ctx.now, max_age,
                             [&] { return read_path(path, mount_tables, ctx.now, max_age); });
    if (!reading.readable) {
      spdlog::debug("disk probe [{}]: statvfs {} ({}): {}", ctx.target.name, path, role,
                    reading.error);
      out.gauge("pg_filesystem_readable", "1 when the path's filesystem could be examined.",
                readable_labels, 0);
      continue;
    }
    out.gauge("pg_filesystem_readable", "1 when the path's filesystem could be examined.",
              readable_labels, 1);
    const FilesystemUsage& usage = reading.usage;
    Labels labels{{"path", path}, {"mountpoint", reading.mount_point}, {"role", role}};
    out.gauge("pg_filesystem_size_bytes", "Filesystem size.", labels,
              static_cast<double>(usage.size_bytes));
    out.gauge("pg_filesystem_free_bytes", "Free bytes, including those reserved for root.", labels,
              static_cast<double>(usage.free_bytes));
    out.gauge("pg_filesystem_avail_bytes", "Bytes available to unprivileged users.", labels,
              static_cast<double>(usage.avail_bytes));
    out.gauge("pg_filesystem_files", "Inodes in the filesystem.", labels,
              static_cast<double>(usage.files));
    out.gauge("pg_filesystem_files_free", "Free inodes.", labels,
              static_cast<double>(usage.files_free));
    out.gauge("pg_filesystem_used_ratio", "Used space as df computes it: used / (used + avail).",
              labels, used_ratio(usage));

    auto& forecaster =
        forecasters_.try_emplace(role + "\n" + path, forecast_options_).first->second;
    forecaster.add(now, static_cast<double>(usage.avail_bytes));
    if (auto forecast = forecaster.forecast()) {
      out.gauge("pg_filesystem_avail_bytes_slope",
                "Trend of available bytes per second (Theil-Sen fit over the forecast window).",
                labels, forecast->slope_bytes_per_second);
      if (forecast->full_at_unix_seconds)
        out.gauge("pg_filesystem_predicted_full_timestamp_seconds",
                  "Unix time at which available space reaches zero at the current trend.", labels,
                  *forecast->full_at_unix_seconds);
    }
  }

  if (!wal.empty()) {
    auto reading = wal_directories.get(wal, ctx.now, max_age, [&] {
      WalReading measured;
      auto resolved = real_path(wal);
      measured.measured = measure_wal_directory(resolved ? *resolved : wal, measured.error);
      return measured;
    });
    if (reading.measured) {
      out.gauge("pg_wal_directory_size_bytes", "Total size of the regular files in pg_wal.", {},
                reading.measured->bytes);
      out.gauge("pg_wal_directory_files", "Regular files in pg_wal.", {}, reading.measured->files);
      if (reading.measured->truncated)
        spdlog::debug("disk probe [{}]: {} has more than {} entries; sizes are partial",
                      ctx.target.name, wal, kMaxWalEntries);
    } else {
      spdlog::debug("disk probe [{}]: cannot list {}: {}", ctx.target.name, wal, reading.error);
    }
  }
}

std::unique_ptr<HostProbe> make_disk_probe() {
  return std::make_unique<DiskProbe>();
}

}  // namespace pgvigil
