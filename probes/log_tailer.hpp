#pragma once
// Follows a log file like `tail -F`: starts at the end on first sight, reads
// a renamed file to its end before switching to the new one, restarts at 0
// after copytruncate, and persists {path, inode, offset} so a restarted
// daemon resumes where it stopped. Hands out complete records only.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvigil {

// lines: one record per line (stderr, jsonlog). csv: a newline inside a
// quoted field does not end the record (csvlog messages may span lines).
enum class RecordFormat { lines, csv };

// Moves every complete record at the front of buffer into out (without the
// newline) and returns how many bytes were consumed; the rest is a partial record.
std::size_t split_records(std::string_view buffer, RecordFormat format,
                          std::vector<std::string>& out);

struct TailPosition {
  std::string path;  // informative: where the file was when last seen
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;  // bytes handed out as complete records
};

// State file text: "pgvigil-logtail 1\n<device> <inode> <offset>\n<path>\n".
std::string format_tail_position(const TailPosition& position);
std::optional<TailPosition> parse_tail_position(std::string_view text);

struct TailRound {
  std::vector<std::string> records;
  std::uint64_t bytes_read = 0;
  bool rotated = false;    // switched to a new file this round
  bool truncated = false;  // the file shrank below our offset (copytruncate)
  std::string error;       // why nothing could be read (missing file, permission...)
};

class LogTailer {
 public:
  struct Options {
    std::string path_or_glob;  // a file, or a glob whose newest match is followed
    std::string state_file;    // empty: no persistence
    RecordFormat format = RecordFormat::lines;
    std::uint64_t max_bytes_per_round = 4 * 1024 * 1024;
    std::size_t max_partial_bytes = 1024 * 1024;  // a longer record is cut and handed out
    std::size_t max_glob_matches = 10'000;
  };

  explicit LogTailer(Options options);
  ~LogTailer();
  LogTailer(const LogTailer&) = delete;
  LogTailer& operator=(const LogTailer&) = delete;

  TailRound poll();
  const TailPosition& position() const noexcept { return position_; }

 private:
  struct FileId {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::string path;
  };
  std::optional<FileId> current_file(std::string& error) const;
  std::optional<std::string> find_by_inode(std::uint64_t device, std::uint64_t inode) const;
  bool open_at(const std::string& path, std::uint64_t offset, std::string& error);
  void close_file();
  std::uint64_t read_available(std::uint64_t budget, TailRound& round);
  void hand_out(TailRound& round, bool flush_partial);
  void save_state();
  void load_state();

  Options options_;
  int fd_ = -1;
  bool started_ = false;
  TailPosition position_;
  std::uint64_t read_offset_ = 0;  // position_.offset + partial_.size()
  std::string partial_;
  std::string saved_text_;
  struct FileKey {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
  };
  std::vector<std::pair<FileKey, std::uint64_t>> finished_;  // recently finished files
};

}  // namespace pgvigil
