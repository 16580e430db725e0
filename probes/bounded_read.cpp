#include "probes/bounded_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pgvigil {

std::optional<std::string> read_bounded(const std::string& path, std::size_t max_bytes,
                                        int& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
    return std::nullopt;
  }
  constexpr std::size_t kChunk = 64 * 1024;
  std::string text;
  while (text.size() < max_bytes) {
    const std::size_t want = std::min(kChunk, max_bytes - text.size());
    const std::size_t used = text.size();
    text.resize(used + want);
    const ssize_t got = ::read(fd, text.data() + used, want);
    if (got < 0 && errno == EINTR) {
      text.resize(used);
      continue;
    }
    if (got < 0) {
      error = errno;
      ::close(fd);
      return std::nullopt;
    }
    text.resize(used + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  ::close(fd);
  text.shrink_to_fit();
  return text;
}

}  // namespace pgvigil
