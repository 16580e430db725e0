#include "probes/backups.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>
#include <cmath>

namespace pgvigil {

namespace {

// glob(3) itself cannot be bounded; we bound how many matches we stat.
constexpr std::size_t kMaxMatches = 100'000;

std::vector<BackupFile> list_backups(const std::string& pattern, std::size_t& skipped) {
  std::vector<BackupFile> files;
  glob_t matches{};
  int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &matches);
  if (rc == 0) {
    auto count = std::min<std::size_t>(matches.gl_pathc, kMaxMatches);
    skipped = matches.gl_pathc - count;
    files.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      struct stat st {};
      if (::stat(matches.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode)) continue;
      files.push_back(
          {matches.gl_pathv[i], static_cast<std::uint64_t>(st.st_size),
           static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) / 1e9});
    }
  } else if (rc != GLOB_NOMATCH) {
    spdlog::debug("backups probe: glob {} failed ({})", pattern, rc);
  }
  ::globfree(&matches);
  return files;
}

}  // namespace

std::string format_age(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  std::string sign = seconds < 0 ? "-" : "";
  auto total = static_cast<long long>(std::llround(std::fabs(seconds)));
  long long days = total / 86400, hours = total % 86400 / 3600, minutes = total % 3600 / 60;
  if (days > 0) return sign + std::to_string(days) + "d " + std::to_string(hours) + "h";
  if (hours > 0) return sign + std::to_string(hours) + "h " + std::to_string(minutes) + "m";
  if (minutes > 0) return sign + std::to_string(minutes) + "m " + std::to_string(total % 60) + "s";
  return sign + std::to_string(total) + "s";
}

BackupVerdict evaluate_backups(std::span<const BackupFile> files,
                               const config::BackupConfig& backup, double now_unix_seconds) {
  BackupVerdict verdict;
  verdict.files = files.size();
  for (const auto& file : files) {
    if (!verdict.newest || file.mtime_unix_seconds > verdict.newest->mtime_unix_seconds ||
        (file.mtime_unix_seconds == verdict.newest->mtime_unix_seconds &&
         file.path > verdict.newest->path))
      verdict.newest = file;
  }
  if (!verdict.newest) {
    verdict.reason = "no file matches";
    return verdict;
  }
  double max_age = std::chrono::duration<double>(backup.max_age).count();
  double age = now_unix_seconds - verdict.newest->mtime_unix_seconds;
  if (age > max_age) {
    verdict.reason = "newest is older than " + format_age(max_age);
  } else if (verdict.newest->size_bytes < backup.min_size_bytes) {
    verdict.reason = "newest is smaller than " + std::to_string(backup.min_size_bytes) + " bytes";
  } else {
    verdict.stale = false;
  }
  return verdict;
}

void BackupsProbe::collect(const HostContext& ctx, SampleSink& out) {
  if (ctx.target.backups.empty()) return;
  double now = std::chrono::duration<double>(ctx.now.time_since_epoch()).count();
  std::string evidence;
  for (const auto& backup : ctx.target.backups) {
    if (backup.glob.empty()) continue;
    std::size_t skipped = 0;
    auto files = list_backups(backup.glob, skipped);
    if (skipped > 0)
      spdlog::debug("backups probe [{}]: {} matches more than {} files; {} not examined",
                    ctx.target.name, backup.glob, kMaxMatches, skipped);
    auto verdict = evaluate_backups(files, backup, now);
    Labels labels{{"glob", backup.glob}};
    out.gauge("pg_backup_files", "Regular files matching the backup glob.", labels,
              static_cast<double>(verdict.files));
    out.gauge("pg_backup_max_age_seconds", "The configured maximum age of the newest backup.",
              labels, std::chrono::duration<double>(backup.max_age).count());
    out.gauge("pg_backup_stale",
              "1 when there is no backup, or the newest is too old or too small.", labels,
              verdict.stale ? 1 : 0);
    if (!evidence.empty()) evidence += '\n';
    evidence += backup.glob + ": ";
    if (verdict.newest) {
      out.gauge("pg_backup_last_timestamp_seconds", "Modification time of the newest backup.",
                labels, verdict.newest->mtime_unix_seconds);
      out.gauge("pg_backup_last_size_bytes", "Size of the newest backup.", labels,
                static_cast<double>(verdict.newest->size_bytes));
      evidence += verdict.newest->path + ", " + std::to_string(verdict.newest->size_bytes) +
                  " bytes, age " + format_age(now - verdict.newest->mtime_unix_seconds);
    } else {
      evidence += "no backup file";
    }
    if (verdict.stale) evidence += " (stale: " + verdict.reason + ")";
  }
  if (!evidence.empty()) out.evidence("backups.newest", std::move(evidence));
}

std::unique_ptr<HostProbe> make_backups_probe() {
  return std::make_unique<BackupsProbe>();
}

}  // namespace pgvigil
