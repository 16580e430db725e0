#pragma once
// A tmpfs on a fresh temporary directory, for tests that need a filesystem
// they can fill (disk full, inode exhaustion). Unmounted (lazily if something
// still holds it) and its directory removed on scope exit, also on failure.
// Needs root (CAP_SYS_ADMIN); without it the constructor throws and says so.
#include <string>

namespace pgvigil::test {

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

}  // namespace pgvigil::test
