#include "probes/query_result.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace pgvigil {

std::optional<double> parse_finite_number(std::string_view text) noexcept {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

int QueryResult::column(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

std::optional<std::string_view> QueryResult::text(std::size_t row,
                                                  std::string_view col) const noexcept {
  const int index = column(col);
  if (index < 0 || row >= rows.size()) return std::nullopt;
  const auto& cell = rows[row][static_cast<std::size_t>(index)];
  if (!cell) return std::nullopt;
  return std::string_view(*cell);
}

std::optional<double> QueryResult::number(std::size_t row, std::string_view col) const noexcept {
  auto cell = text(row, col);
  if (!cell || cell->empty()) return std::nullopt;
  if (*cell == "t") return 1.0;
  if (*cell == "f") return 0.0;
  if (*cell == "Infinity") return std::numeric_limits<double>::infinity();
  if (*cell == "-Infinity") return -std::numeric_limits<double>::infinity();
  if (*cell == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  const char* first = cell->data();
  const char* last = first + cell->size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last) return std::nullopt;
  return value;
}

std::optional<bool> QueryResult::boolean(std::size_t row, std::string_view col) const noexcept {
  auto cell = text(row, col);
  if (!cell) return std::nullopt;
  if (*cell == "t" || *cell == "true" || *cell == "on") return true;
  if (*cell == "f" || *cell == "false" || *cell == "off") return false;
  return std::nullopt;
}

QueryResult QueryResult::from_rows(std::vector<std::string> cols,
                                   std::vector<std::vector<std::optional<std::string>>> data) {
  QueryResult result;
  result.ok = true;
  result.columns = std::move(cols);
  result.rows = std::move(data);
  return result;
}

QueryResult QueryResult::failure(std::string state, std::string message) {
  QueryResult result;
  result.sqlstate = std::move(state);
  result.error = std::move(message);
  return result;
}

}  // namespace pgvigil
