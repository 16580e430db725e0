#pragma once
// The "backups" host probe: for each configured backup glob, the newest file,
// its age and size, and whether it is stale.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "probes/probe.hpp"

namespace pgvigil {

struct BackupFile {
  std::string path;
  std::uint64_t size_bytes = 0;
  double mtime_unix_seconds = 0;
};

struct BackupVerdict {
  std::size_t files = 0;
  std::optional<BackupFile> newest;  // by mtime; ties broken by path
  bool stale = true;
  std::string reason;  // why stale, for evidence ("no file", "older than ...", ...)
};

// Pure: judges the files one glob matched against its limits at time now.
BackupVerdict evaluate_backups(std::span<const BackupFile> files,
                               const config::BackupConfig& backup, double now_unix_seconds);

// Human text for a duration in seconds ("3d 4h", "2h 5m", "42s").
std::string format_age(double seconds);

class BackupsProbe final : public HostProbe {
 public:
  std::string_view name() const noexcept override { return "backups"; }
  config::Duration default_interval() const noexcept override { return config::Duration{60'000}; }
  void collect(const HostContext& ctx, SampleSink& out) override;
};

std::unique_ptr<HostProbe> make_backups_probe();

}  // namespace pgvigil
