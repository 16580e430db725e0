#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "probes/query_result.hpp"

using pgvigil::QueryResult;

TEST_CASE("copies of a result share its rows until one of them writes") {
  auto original = QueryResult::from_rows({"pid", "state"}, {{"1", "idle"}, {"2", std::nullopt}});
  const QueryResult copy = original;  // what a second reader of a statement gets
  REQUIRE(copy.rows.size() == 2);
  CHECK(&copy.rows[0] == &std::as_const(original).rows[0]);  // shared, not copied
  CHECK(copy.text(0, "state") == "idle");
  CHECK_FALSE(copy.text(1, "state").has_value());

  original.rows[0][1] = std::string("active");  // a writer gets rows of its own
  CHECK(original.text(0, "state") == "active");
  CHECK(copy.text(0, "state") == "idle");
  original.rows.push_back({"3", "idle"});
  CHECK(original.rows.size() == 3);
  CHECK(copy.rows.size() == 2);
  CHECK_FALSE(copy.rows == original.rows);

  QueryResult empty;
  CHECK(empty.rows.empty());
  CHECK(empty.rows.begin() == empty.rows.end());
  empty.rows.emplace_back(pgvigil::ResultRows::Row{"x"});
  CHECK(empty.rows.size() == 1);
  empty.rows.clear();
  CHECK(empty.rows.empty());
}
