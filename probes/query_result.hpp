#pragma once
// The result of one SQL statement as the session hands it to a probe: text
// values (libpq text format), NULL kept distinct from empty, and the error
// (SQLSTATE + message) when the statement failed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil {

// The whole of `text` as a finite decimal number (e.g. a setting's value, an
// age in seconds), else nullopt.
std::optional<double> parse_finite_number(std::string_view text) noexcept;

struct QueryResult {
  bool ok = false;
  std::string sqlstate;  // set when !ok and the server sent one
  std::string error;     // the server's primary message, or a client-side reason
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;

  // Index of a column by name, or -1.
  int column(std::string_view name) const noexcept;
  // Cell accessors by row and column name; nullopt for NULL, a missing column
  // or (for number()) text that is not a number. NULL means "no sample".
  std::optional<std::string_view> text(std::size_t row, std::string_view col) const noexcept;
  std::optional<double> number(std::size_t row, std::string_view col) const noexcept;
  // PostgreSQL booleans arrive as "t"/"f".
  std::optional<bool> boolean(std::size_t row, std::string_view col) const noexcept;

  // Builders for tests and fixtures: recorded rows stand in for a server reply.
  static QueryResult from_rows(std::vector<std::string> columns,
                               std::vector<std::vector<std::optional<std::string>>> rows);
  static QueryResult failure(std::string sqlstate, std::string message);
};

}  // namespace pgvigil
