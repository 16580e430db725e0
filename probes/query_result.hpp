#pragma once
// The result of one SQL statement as the session hands it to a probe: text
// values (libpq text format), NULL kept distinct from empty, and the error
// (SQLSTATE + message) when the statement failed.
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvigil {

// The whole of `text` as a finite decimal number (e.g. a setting's value, an
// age in seconds), else nullopt.
std::optional<double> parse_finite_number(std::string_view text) noexcept;

// The rows of a result, shared by the copies of a result until one of them
// changes (copy on write). A statement several probes asked for in one batch
// (the client sessions: activity, connections, wait events) is handed to
// each of them; copying its hundred rows for every reader was a tenth of the
// agent's allocations at 1000 targets. Results live on the event loop only.
class ResultRows {
 public:
  using Row = std::vector<std::optional<std::string>>;
  using value_type = Row;
  using size_type = std::size_t;
  using const_iterator = std::vector<Row>::const_iterator;
  using iterator = std::vector<Row>::iterator;

  ResultRows() = default;
  ResultRows(std::vector<Row> rows)  // NOLINT: implicit, as the vector it stands for
      : rows_(std::make_shared<std::vector<Row>>(std::move(rows))) {}
  ResultRows(std::initializer_list<Row> rows) : ResultRows(std::vector<Row>(rows)) {}

  size_type size() const noexcept { return rows_ ? rows_->size() : 0; }
  bool empty() const noexcept { return size() == 0; }
  const Row& operator[](size_type i) const { return (*rows_)[i]; }
  const Row& at(size_type i) const { return view().at(i); }
  const Row& front() const { return rows_->front(); }
  const Row& back() const { return rows_->back(); }
  const_iterator begin() const { return view().begin(); }
  const_iterator end() const { return view().end(); }

  // Writers get rows of their own first.
  Row& operator[](size_type i) { return own()[i]; }
  Row& front() { return own().front(); }
  Row& back() { return own().back(); }
  iterator begin() { return own().begin(); }
  iterator end() { return own().end(); }
  void push_back(Row row) { own().push_back(std::move(row)); }
  template <typename... Args>
  Row& emplace_back(Args&&... args) {
    return own().emplace_back(std::forward<Args>(args)...);
  }
  // `pos` comes from the non-const begin(), which already made the rows own.
  iterator insert(iterator pos, Row row) { return own().insert(pos, std::move(row)); }
  iterator erase(iterator pos) { return own().erase(pos); }
  void reserve(size_type n) { own().reserve(n); }
  void resize(size_type n) { own().resize(n); }
  void clear() { rows_.reset(); }

  friend bool operator==(const ResultRows& a, const ResultRows& b) { return a.view() == b.view(); }

 private:
  const std::vector<Row>& view() const {
    static const std::vector<Row> none;
    return rows_ ? *rows_ : none;
  }
  std::vector<Row>& own() {
    if (!rows_)
      rows_ = std::make_shared<std::vector<Row>>();
    else if (rows_.use_count() > 1)
      rows_ = std::make_shared<std::vector<Row>>(*rows_);
    return *rows_;
  }

  std::shared_ptr<std::vector<Row>> rows_;
};

struct QueryResult {
  bool ok = false;
  std::string sqlstate;  // set when !ok and the server sent one
  std::string error;     // the server's primary message, or a client-side reason
  std::vector<std::string> columns;
  ResultRows rows;

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
