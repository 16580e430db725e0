// Every alert links to a page the daemon itself serves (/runbooks/<Alert>.md):
// the pages are compiled in, so a rule without its page is a build-time gap
// this test turns into a failure.
#include "daemon/runbooks.hpp"

#include <doctest/doctest.h>

#include <string>

#include "alerts/rules.hpp"

namespace {

const pgvigil::EmbeddedRunbook* find_page(std::string_view file) {
  for (const auto& page : pgvigil::embedded_runbooks())
    if (page.file == file) return &page;
  return nullptr;
}

}  // namespace

TEST_CASE("runbooks: every alert rule has an embedded page, listed in the index") {
  const auto* index = find_page("README.md");
  REQUIRE(index != nullptr);
  for (const auto& rule : pgvigil::alerts::rule_table()) {
    const std::string file = std::string(rule.name) + ".md";
    CAPTURE(file);
    const auto* page = find_page(file);
    REQUIRE(page != nullptr);
    CHECK(page->markdown.starts_with("# " + std::string(rule.name)));
    CHECK(index->markdown.find("(" + file + ")") != std::string_view::npos);
  }
}

TEST_CASE("runbooks: pages are whole files") {
  // The generator copies bytes verbatim: a page ends as its file does.
  for (const auto& page : pgvigil::embedded_runbooks()) {
    CAPTURE(page.file);
    CHECK(page.file.ends_with(".md"));
    CHECK(page.markdown.size() > 200);
    CHECK(page.markdown.back() == '\n');
  }
}
