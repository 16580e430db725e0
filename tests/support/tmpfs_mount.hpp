#pragma once
// A tmpfs on a fresh temporary directory, for tests that need a filesystem
// they can fill (disk full, inode exhaustion). Unmounted (lazily if something
// still holds it) and its directory removed on scope exit, also on failure.
// Needs root (CAP_SYS_ADMIN); without it the constructor throws and says so.
#include <chrono>
#include <string>

namespace pgvigil::test {

class TestConnection;

class TmpfsMount {
 public:
  // `options` are tmpfs mount options besides mode, e.g. "size=96M" or
  // "size=256M,nr_inodes=2000".
  explicit TmpfsMount(const std::string& options);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  const std::string& path() const { return dir_; }
  double avail_bytes() const;  // what df shows as Avail
  double free_inodes() const;
  double inodes() const;

 private:
  std::string dir_;
};

struct FillOutcome {
  int inserts = 0;
  std::string error;  // the failed INSERT's message (ENOSPC); empty if it never failed
};

// Fills `disk` through a new table "fill" at a steady pace, so that it runs
// out of space about `fill_time` from now (the disk probes' forecast needs a
// steady trend). Stops at the first failed INSERT, or after `limit` or 5000
// inserts. Each insert is ~0.3 MB; a new WAL segment takes 16 MB at once,
// after which the pace waits for the schedule to catch up.
FillOutcome fill_until_full(TestConnection& db, const TmpfsMount& disk,
                            std::chrono::seconds fill_time, std::chrono::seconds limit);

}  // namespace pgvigil::test
