// libFuzzer harness: bytes read from a PostgreSQL server log, in every format
// the logs probe reads (stderr, csvlog, jsonlog): split into records as the
// tailer does (line and CSV framing), each record classified, masked for
// evidence and split as CSV; also the tailer's state-file text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "probes/log_classifier.hpp"
#include "probes/log_tailer.hpp"

namespace {

void classify_all(std::string_view buffer, pgvigil::RecordFormat format, std::size_t max_bytes) {
  std::vector<std::string> records;
  const std::size_t consumed = pgvigil::split_records(buffer, format, records);
  if (consumed > buffer.size()) __builtin_trap();
  // The tailer hands out the unterminated rest too when it is cut or flushed.
  if (consumed < buffer.size()) records.emplace_back(buffer.substr(consumed));
  for (const auto& record : records) {
    const auto klass = pgvigil::classify_log_line(record);
    (void)pgvigil::log_class_for_sqlstate(klass.sqlstate);
    const std::string evidence = pgvigil::evidence_line(record, max_bytes);
    if (evidence.size() > max_bytes) __builtin_trap();
    (void)pgvigil::split_csv_record(record);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buffer(reinterpret_cast<const char*>(data), size);
  // The evidence limit varies with the input, so clipping is tested at every length.
  const std::size_t max_bytes = size == 0 ? 512 : data[0] % 128 + 1;
  classify_all(buffer, pgvigil::RecordFormat::lines, max_bytes);
  classify_all(buffer, pgvigil::RecordFormat::csv, max_bytes);
  if (const auto position = pgvigil::parse_tail_position(buffer)) {
    // What the tailer saves, it must read back unchanged.
    const auto again = pgvigil::parse_tail_position(pgvigil::format_tail_position(*position));
    if (!again || again->path != position->path || again->device != position->device ||
        again->inode != position->inode || again->offset != position->offset) {
      __builtin_trap();
    }
  }
  return 0;
}
