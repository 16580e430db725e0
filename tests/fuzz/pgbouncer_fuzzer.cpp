// libFuzzer harness: one round of pgbouncer admin-console results ->
// pgbouncer::collect and the samples as exposition text; the input's text
// also goes through classify_failure as a server's error message.
//
// Input: up to six results separated by form feeds ('\f'), in the order of
// pgbouncer::queries(). In each, the first line holds the column names and
// every other line a row, fields separated by '|', "<NULL>" for NULL (the
// format of tests/data/pgbouncer/, which seeds the corpus); a row with more
// fields than columns is cut, one with fewer is padded with NULLs. A result
// whose text starts with "!" is a failed statement with that message.
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "probes/pgbouncer.hpp"

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

pgvigil::QueryResult result_of(std::string_view text) {
  if (text.starts_with('!')) return pgvigil::QueryResult::failure("08P01", std::string(text));
  const auto lines = split(text, '\n');
  std::vector<std::string> columns;
  for (auto name : split(lines.front(), '|')) columns.emplace_back(name);
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::optional<std::string>> row;
    for (auto field : split(lines[i], '|')) {
      if (row.size() == columns.size()) break;
      row.push_back(field == "<NULL>" ? std::nullopt : std::optional<std::string>(field));
    }
    row.resize(columns.size());
    rows.push_back(std::move(row));
  }
  return pgvigil::QueryResult::from_rows(std::move(columns), std::move(rows));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<pgvigil::QueryResult> results;
  for (auto part : split(input, '\f')) {
    if (results.size() == pgvigil::pgbouncer::queries().size()) break;
    results.push_back(result_of(part));
  }
  pgvigil::SampleSink sink;
  const auto outcome = pgvigil::pgbouncer::collect(results, sink);
  (void)pgvigil::pgbouncer::to_string(outcome.reason);
  (void)prometheus::TextSerializer().Serialize(sink.take());
  (void)pgvigil::pgbouncer::classify_failure(pgvigil::FailureReason::other, input);
  return 0;
}
