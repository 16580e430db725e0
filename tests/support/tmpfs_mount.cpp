#include "support/tmpfs_mount.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

namespace pgvigil::test {
namespace {

struct statvfs stat_of(const std::string& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) throw std::runtime_error("statvfs " + dir);
  return vfs;
}

}  // namespace

TmpfsMount::TmpfsMount(const std::string& options) : dir_(make_temp_dir("pgvigil-tmpfs")) {
  int exit_code = 0;
  const auto output = run_command(
      "mount -t tmpfs -o " + options + ",mode=0755 pgvigil-test " + shell_quote(dir_), &exit_code);
  if (exit_code != 0) {
    ::rmdir(dir_.c_str());
    throw std::runtime_error("cannot mount a tmpfs on " + dir_ +
                             " (this test needs root with CAP_SYS_ADMIN): " + output);
  }
}

TmpfsMount::~TmpfsMount() {
  int exit_code = 0;
  run_command("umount " + shell_quote(dir_), &exit_code);
  if (exit_code != 0) run_command("umount -l " + shell_quote(dir_), &exit_code);
  ::rmdir(dir_.c_str());
}

double TmpfsMount::avail_bytes() const {
  const auto vfs = stat_of(dir_);
  return static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
}

double TmpfsMount::free_inodes() const {
  return static_cast<double>(stat_of(dir_).f_ffree);
}

double TmpfsMount::inodes() const {
  return static_cast<double>(stat_of(dir_).f_files);
}

FillOutcome fill_until_full(TestConnection& db, const TmpfsMount& disk,
                            std::chrono::seconds fill_time, std::chrono::seconds limit) {
  using Clock = std::chrono::steady_clock;
  db.query("CREATE TABLE fill (id bigint, pad text) WITH (autovacuum_enabled = false)");
  const double start_avail = disk.avail_bytes();
  const auto start = Clock::now();
  const double seconds = std::chrono::duration<double>(fill_time).count();
  FillOutcome outcome;
  while (Clock::now() - start < limit && outcome.inserts < 5000) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (disk.avail_bytes() <= start_avail * std::max(0.0, 1.0 - elapsed / seconds)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    try {
      db.query(
          "INSERT INTO fill SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 1000) g");
      ++outcome.inserts;
    } catch (const std::exception& e) {
      outcome.error = e.what();
      break;
    }
  }
  return outcome;
}

}  // namespace pgvigil::test
