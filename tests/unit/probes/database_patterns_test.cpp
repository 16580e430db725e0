#include "probes/database_patterns.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using pgvigil::database_selected;
using pgvigil::DatabasePatterns;
using pgvigil::datname_prefilter;

namespace {

bool selected(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
              const std::string& name) {
  return database_selected(DatabasePatterns{include, exclude}, name);
}

std::string prefilter(const std::vector<std::string>& include,
                      const std::vector<std::string>& exclude) {
  return datname_prefilter(DatabasePatterns{include, exclude}, "d.datname");
}

}  // namespace

TEST_CASE("database_selected: include globs (empty: all), then exclude") {
  CHECK(selected({}, {}, "app"));
  CHECK(selected({"team_*"}, {}, "team_a"));
  CHECK_FALSE(selected({"team_*"}, {}, "postgres"));
  CHECK_FALSE(selected({"team_*"}, {"team_b"}, "team_b"));
  CHECK_FALSE(selected({}, {"template*"}, "template1"));
  CHECK(selected({}, {"template*"}, "app"));
  CHECK(selected({"app[12]"}, {}, "app2"));
  CHECK_FALSE(selected({"app[12]"}, {}, "app3"));
}

TEST_CASE("datname_prefilter: nothing to narrow is TRUE") {
  CHECK(prefilter({}, {}) == "TRUE");
}

TEST_CASE("datname_prefilter: globs become LIKE patterns, LIKE's own characters escaped") {
  CHECK(prefilter({"t0_*", "postgres"}, {}) ==
        R"(d.datname LIKE ANY (ARRAY[E't0\\_%', E'postgres']::text[]))");
  CHECK(prefilter({"a?c"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'a_c']::text[]))");
  CHECK(prefilter({"50%"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'50\\%']::text[]))");
  // A glob's backslash quotes the next character; a quote is doubled.
  CHECK(prefilter({R"(a\*b)"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'a*b']::text[]))");
  CHECK(prefilter({"o'brien"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'o''brien']::text[]))");
  CHECK(prefilter({R"(back\\slash)"}, {}) ==
        R"(d.datname LIKE ANY (ARRAY[E'back\\\\slash']::text[]))");
}

TEST_CASE("datname_prefilter: a bracket expression widens an include, drops an exclude") {
  CHECK(prefilter({"app[12]"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'app_']::text[]))");
  CHECK(prefilter({"app[!x]*"}, {}) == R"(d.datname LIKE ANY (ARRAY[E'app_%']::text[]))");
  // An unclosed '[' is a literal, as fnmatch reads it.
  CHECK(prefilter({"app["}, {}) == R"(d.datname LIKE ANY (ARRAY[E'app[']::text[]))");
  CHECK(prefilter({}, {"template*"}) == R"(NOT d.datname LIKE ANY (ARRAY[E'template%']::text[]))");
  // Widening an exclude would drop databases the glob keeps: left to the
  // daemon's own filter.
  CHECK(prefilter({}, {"tmp[0-9]"}) == "TRUE");
  CHECK(prefilter({"team_*"}, {"team_b", "team_[cd]"}) ==
        R"(d.datname LIKE ANY (ARRAY[E'team\\_%']::text[]) AND )"
        R"(NOT d.datname LIKE ANY (ARRAY[E'team\\_b']::text[]))");
}
