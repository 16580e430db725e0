#include "probes/log_tailer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace pgvigil {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxStateFileBytes = 64 * 1024;
constexpr std::size_t kMaxSiblingEntries = 1000;
constexpr std::size_t kMaxFinishedFiles = 16;
constexpr std::string_view kStateHeader = "pgvigil-logtail 1";

bool has_glob_chars(std::string_view s) noexcept {
  return s.find_first_of("*?[") != std::string_view::npos;
}

std::string errno_text(int error) {
  return std::strerror(error);
}

template <typename Int>
bool parse_uint(std::string_view text, Int& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

// Reads at most max_bytes of a small file; nullopt when it cannot be opened.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  while (text.size() < max_bytes) {
    auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (text.size() > max_bytes) text.resize(max_bytes);
  return text;
}

}  // namespace

std::size_t split_records(std::string_view buffer, RecordFormat format,
                          std::vector<std::string>& out) {
  std::size_t consumed = 0;
  bool in_quotes = false;
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    char c = buffer[i];
    if (format == RecordFormat::csv && c == '"') {
      in_quotes = !in_quotes;  // "" inside a field toggles twice: no net change
      continue;
    }
    if (c != '\n' || in_quotes) continue;
    auto record = buffer.substr(consumed, i - consumed);
    if (!record.empty() && record.back() == '\r') record.remove_suffix(1);
    if (!record.empty()) out.emplace_back(record);
    consumed = i + 1;
  }
  return consumed;
}

std::string format_tail_position(const TailPosition& position) {
  std::string path = position.path;
  // The path is informative only; a newline in it would break the layout.
  if (path.find('\n') != std::string::npos) path.clear();
  return std::string(kStateHeader) + "\n" + std::to_string(position.device) + " " +
         std::to_string(position.inode) + " " + std::to_string(position.offset) + "\n" + path +
         "\n";
}

std::optional<TailPosition> parse_tail_position(std::string_view text) {
  auto next_line = [&text]() -> std::optional<std::string_view> {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    return line;
  };
  auto header = next_line();
  auto numbers = next_line();
  auto path = next_line();
  if (!header || *header != kStateHeader || !numbers || !path) return std::nullopt;
  TailPosition position;
  position.path = std::string(*path);
  auto first_space = numbers->find(' ');
  auto second_space = numbers->find(' ', first_space + 1);
  if (first_space == std::string_view::npos || second_space == std::string_view::npos)
    return std::nullopt;
  if (!parse_uint(numbers->substr(0, first_space), position.device) ||
      !parse_uint(numbers->substr(first_space + 1, second_space - first_space - 1),
                  position.inode) ||
      !parse_uint(numbers->substr(second_space + 1), position.offset))
    return std::nullopt;
  return position;
}

LogTailer::LogTailer(Options options) : options_(std::move(options)) {}

LogTailer::~LogTailer() {
  close_file();
}

void LogTailer::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<LogTailer::FileId> LogTailer::current_file(std::string& error) const {
  struct stat st {};
  if (!has_glob_chars(options_.path_or_glob)) {
    if (::stat(options_.path_or_glob.c_str(), &st) != 0) {
      error = options_.path_or_glob + ": " + errno_text(errno);
      return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
      error = options_.path_or_glob + ": not a regular file";
      return std::nullopt;
    }
    return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                  static_cast<std::uint64_t>(st.st_size), options_.path_or_glob};
  }
  glob_t matches{};
  int rc = ::glob(options_.path_or_glob.c_str(), GLOB_NOSORT, nullptr, &matches);
  std::optional<FileId> newest;
  timespec newest_mtime{};
  if (rc == 0) {
    auto count = std::min<std::size_t>(matches.gl_pathc, options_.max_glob_matches);
    for (std::size_t i = 0; i < count; ++i) {
      std::string path = matches.gl_pathv[i];
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      bool newer = !newest || st.st_mtim.tv_sec > newest_mtime.tv_sec ||
                   (st.st_mtim.tv_sec == newest_mtime.tv_sec &&
                    (st.st_mtim.tv_nsec > newest_mtime.tv_nsec ||
                     (st.st_mtim.tv_nsec == newest_mtime.tv_nsec && path > newest->path)));
      if (!newer) continue;
      newest_mtime = st.st_mtim;
      newest = FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                      static_cast<std::uint64_t>(st.st_size), path};
    }
  }
  ::globfree(&matches);
  if (!newest) error = options_.path_or_glob + ": no regular file matches";
  return newest;
}

// After a restart the file we were reading may have been renamed by rotation:
// look among the glob's matches, or the siblings named like the file.
std::optional<std::string> LogTailer::find_by_inode(std::uint64_t device,
                                                    std::uint64_t inode) const {
  auto same = [&](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           static_cast<std::uint64_t>(st.st_dev) == device &&
           static_cast<std::uint64_t>(st.st_ino) == inode;
  };
  if (!position_.path.empty() && same(position_.path)) return position_.path;
  if (has_glob_chars(options_.path_or_glob)) {
    glob_t matches{};
    std::optional<std::string> found;
    if (::glob(options_.path_or_glob.c_str(), GLOB_NOSORT, nullptr, &matches) == 0) {
      auto count = std::min<std::size_t>(matches.gl_pathc, options_.max_glob_matches);
      for (std::size_t i = 0; i < count && !found; ++i)
        if (same(matches.gl_pathv[i])) found = matches.gl_pathv[i];
    }
    ::globfree(&matches);
    return found;
  }
  const auto& path = options_.path_or_glob;
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return std::nullopt;
  std::optional<std::string> found;
  std::size_t seen = 0;
  while (auto* entry = ::readdir(handle)) {
    if (++seen > kMaxSiblingEntries) break;
    std::string_view name = entry->d_name;
    if (!name.starts_with(base) || name == base) continue;
    auto candidate = dir + "/" + std::string(name);
    if (same(candidate)) {
      found = candidate;
      break;
    }
  }
  ::closedir(handle);
  return found;
}

bool LogTailer::open_at(const std::string& path, std::uint64_t offset, std::string& error) {
  close_file();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error = path + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    error = path + ": " + errno_text(errno);
    close_file();
    return false;
  }
  position_.path = path;
  position_.device = static_cast<std::uint64_t>(st.st_dev);
  position_.inode = static_cast<std::uint64_t>(st.st_ino);
  position_.offset = offset;
  read_offset_ = offset;
  partial_.clear();
  return true;
}

std::uint64_t LogTailer::read_available(std::uint64_t budget, TailRound& round) {
  std::uint64_t total = 0;
  char buffer[kReadChunk];
  while (total < budget) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, budget - total));
    auto n = ::pread(fd_, buffer, want, static_cast<off_t>(read_offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      round.error = position_.path + ": " + errno_text(errno);
      break;
    }
    if (n == 0) break;
    auto got = static_cast<std::size_t>(n);
    partial_.append(buffer, got);
    read_offset_ += got;
    total += got;
    round.bytes_read += got;
    // Hand out as we go so partial_ stays small even with a large budget.
    if (partial_.size() >= kReadChunk) hand_out(round, false);
  }
  return total;
}

void LogTailer::hand_out(TailRound& round, bool flush_partial) {
  auto consumed = split_records(partial_, options_.format, round.records);
  partial_.erase(0, consumed);
  position_.offset += consumed;
  bool oversized = partial_.size() > options_.max_partial_bytes;
  if (!partial_.empty() && (flush_partial || oversized)) {
    // A record that never ends (or a file that ended mid-record) is handed
    // out as is rather than held forever.
    round.records.push_back(partial_.substr(0, options_.max_partial_bytes));
    position_.offset += partial_.size();
    partial_.clear();
  }
}

void LogTailer::load_state() {
  if (options_.state_file.empty()) return;
  auto text = read_small_file(options_.state_file, kMaxStateFileBytes);
  if (!text) return;
  if (auto position = parse_tail_position(*text)) {
    position_ = *position;
    saved_text_ = *text;
  } else {
    spdlog::warn("log tailer: ignoring unreadable state file {}", options_.state_file);
  }
}

void LogTailer::save_state() {
  if (options_.state_file.empty() || position_.inode == 0) return;
  auto text = format_tail_position(position_);
  if (text == saved_text_) return;
  auto temp = options_.state_file + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    spdlog::warn("log tailer: cannot write {}: {}", temp, errno_text(errno));
    return;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  // rename() is atomic: a crash leaves either the old or the new state.
  if (!ok || ::rename(temp.c_str(), options_.state_file.c_str()) != 0) {
    spdlog::warn("log tailer: cannot save state to {}: {}", options_.state_file, errno_text(errno));
    ::unlink(temp.c_str());
    return;
  }
  saved_text_ = std::move(text);
}

TailRound LogTailer::poll() {
  TailRound round;
  if (!started_) {
    started_ = true;
    load_state();
  }
  std::string error;
  auto current = current_file(error);

  if (fd_ < 0) {
    bool opened = false;
    // A saved position for a file the configuration no longer names (the log
    // path was changed) says nothing about the new file: treat it as new.
    bool state_applies =
        position_.inode != 0 &&
        (position_.path == options_.path_or_glob ||
         (has_glob_chars(options_.path_or_glob) &&
          ::fnmatch(options_.path_or_glob.c_str(), position_.path.c_str(), FNM_PATHNAME) == 0));
    if (!state_applies) position_ = TailPosition{};
    if (position_.inode == 0) {
      // First sight: only what is written from now on is news.
      if (current) opened = open_at(current->path, current->size, error);
    } else if (current && current->device == position_.device &&
               current->inode == position_.inode) {
      opened = open_at(current->path, position_.offset, error);
    } else if (auto renamed = find_by_inode(position_.device, position_.inode)) {
      opened = open_at(*renamed, position_.offset, error);  // finish it, then switch
    } else if (current) {
      // The file we were reading is gone: everything in the new one is unread.
      opened = open_at(current->path, 0, error);
      round.rotated = opened;
    }
    if (!opened) {
      round.error = error;
      return round;
    }
  }

  std::uint64_t budget = options_.max_bytes_per_round;
  // A few switches at most per round: one rotation plus a truncation.
  for (int step = 0; step < 4; ++step) {
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < read_offset_) {
      // copytruncate: the file was emptied under us; its new content starts at 0.
      partial_.clear();
      position_.offset = 0;
      read_offset_ = 0;
      round.truncated = true;
    }
    budget -= read_available(budget, round);
    hand_out(round, false);
    if (budget == 0 || !round.error.empty()) break;
    // At the end of this file: switch only when the name now means another file.
    if (!current || (current->device == position_.device && current->inode == position_.inode))
      break;
    hand_out(round, true);
    finished_.emplace_back(FileKey{position_.device, position_.inode}, position_.offset);
    if (finished_.size() > kMaxFinishedFiles) finished_.erase(finished_.begin());
    std::uint64_t start = 0;
    // A file we already finished (a glob flip-flopping on mtime) resumes where we left it.
    for (const auto& [key, offset] : finished_)
      if (key.device == current->device && key.inode == current->inode) start = offset;
    if (!open_at(current->path, start, error)) {
      round.error = error;
      break;
    }
    round.rotated = true;
  }
  save_state();
  return round;
}

}  // namespace pgvigil
