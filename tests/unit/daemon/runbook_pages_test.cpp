// The runbooks rendered to HTML (/runbooks/<Alert>): every alert's page
// renders, every link on every page leads somewhere the daemon serves (a
// sibling page, an anchor that exists, the markdown source), and nothing a
// page's text contains becomes markup.
#include "daemon/runbook_pages.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "alerts/rules.hpp"

namespace {

std::vector<std::string> attribute_values(const std::string& html, const std::string& attribute) {
  std::vector<std::string> values;
  const std::string needle = " " + attribute + "=\"";
  for (auto at = html.find(needle); at != std::string::npos; at = html.find(needle, at + 1)) {
    const auto start = at + needle.size();
    const auto end = html.find('"', start);
    if (end == std::string::npos) break;
    std::string value = html.substr(start, end - start);
    for (auto amp = value.find("&amp;"); amp != std::string::npos;
         amp = value.find("&amp;", amp + 1))
      value.erase(amp + 1, 4);
    values.push_back(value);
  }
  return values;
}

std::set<std::string> ids(const std::string& html) {
  const auto values = attribute_values(html, "id");
  return {values.begin(), values.end()};
}

}  // namespace

TEST_CASE("runbook pages: every alert's page renders as HTML") {
  const auto pages = pgvigil::render_runbook_pages(pgvigil::embedded_runbooks());
  REQUIRE(pages.contains(""));  // the index
  CHECK(pages.at("").find("<table>") != std::string::npos);
  for (const auto& rule : pgvigil::alerts::rule_table()) {
    const std::string name(rule.name);
    CAPTURE(name);
    REQUIRE(pages.contains(name));
    const auto& html = pages.at(name);
    CHECK(html.starts_with("<!doctype html>"));
    CHECK(html.find("<title>" + name + " · pgvigil</title>") != std::string::npos);
    CHECK(html.find("<h1>") != std::string::npos);
    CHECK(html.find("\">#</a> " + name + "</h1>") != std::string::npos);
    CHECK(html.find("<h2>") != std::string::npos);
    CHECK(html.find("href=\"" + name + ".md\"") != std::string::npos);  // the source
    // The markdown's syntax is gone: no heading marks or table pipes left over.
    CHECK(html.find("\n## ") == std::string::npos);
    CHECK(html.find("|---") == std::string::npos);
    CHECK(html.ends_with("</html>\n"));
  }
  // The reason table of PostgresDown is a table, not a paragraph of pipes.
  CHECK(pages.at("PostgresDown").find("<td><code>refused</code></td>") != std::string::npos);
}

TEST_CASE("runbook pages: every link resolves") {
  const auto pages = pgvigil::render_runbook_pages(pgvigil::embedded_runbooks());
  std::set<std::string> markdown_files;
  for (const auto& runbook : pgvigil::embedded_runbooks())
    markdown_files.insert(std::string(runbook.file));
  std::size_t checked = 0;
  std::size_t anchors = 0;
  for (const auto& [name, html] : pages) {
    const auto own_ids = ids(html);
    for (const auto& href : attribute_values(html, "href")) {
      CAPTURE(name);
      CAPTURE(href);
      ++checked;
      if (href.starts_with("https://") || href.starts_with("http://")) continue;  // not fetched
      REQUIRE(!href.empty());
      if (href == "../") continue;  // the status page
      const auto hash = href.find('#');
      std::string path = href.substr(0, hash);
      const std::string fragment = hash == std::string::npos ? "" : href.substr(hash + 1);
      const bool relative_sibling = path.find('/') == std::string::npos || path == "./";
      CHECK(relative_sibling);
      if (path.ends_with(".md")) {
        CHECK(markdown_files.contains(path));
        CHECK(fragment.empty());
        continue;
      }
      if (path == "./") path.clear();
      const std::string page_name = href.starts_with('#') ? name : path;
      REQUIRE(pages.contains(page_name));
      if (!fragment.empty()) {
        ++anchors;
        const auto& target_ids = page_name == name ? own_ids : ids(pages.at(page_name));
        CHECK(target_ids.contains(fragment));
      }
    }
  }
  CHECK(checked > 400);
  CHECK(anchors > 20);  // the pages do link to their own sections
}

TEST_CASE("runbook pages: text never becomes markup (safe mode)") {
  const std::string hostile =
      "# Title <script>alert(1)</script>\n\n"
      "<script>alert(2)</script>\n\n"
      "<img src=x onerror=alert(3)>\n\n"
      "Inline <b onclick=\"x()\">bold</b> and [a link](javascript:alert(4)) and "
      "[data](data:text/html;base64,PHNjcmlwdD4=) and `<code>`.\n\n"
      "| a | b |\n|---|---|\n| <script>alert(5)</script> | \"quoted\" |\n\n"
      "See [the setup](../setup.md#x) and [down](PostgresDown.md#dns).\n";
  const auto html = pgvigil::render_runbook_html(hostile, "Hostile.md");
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("onerror") == std::string::npos);
  CHECK(html.find("onclick") == std::string::npos);
  CHECK(html.find("javascript:") == std::string::npos);
  CHECK(html.find("data:text/html") == std::string::npos);
  CHECK(html.find("and a link and data and") != std::string::npos);
  CHECK(html.find("<code>&lt;code&gt;</code>") != std::string::npos);
  CHECK(html.find("<title>Title alert(1) · pgvigil</title>") != std::string::npos);
  // Sibling runbooks link to their HTML page; the rest of docs/ is named, not linked.
  CHECK(html.find("href=\"PostgresDown#dns\"") != std::string::npos);
  CHECK(html.find("the setup (docs/setup.md in the pgvigil sources)") != std::string::npos);
  CHECK(html.find("setup.md\"") == std::string::npos);
}

TEST_CASE("runbook pages: heading anchors as GitHub makes them") {
  using pgvigil::heading_anchor;
  CHECK(heading_anchor("refused: the server is not listening") ==
        "refused-the-server-is-not-listening");
  CHECK(heading_anchor("Step 1: Is it only pgvigil?") == "step-1-is-it-only-pgvigil");
  CHECK(heading_anchor("starting_up (crash recovery) in progress") ==
        "starting_up-crash-recovery-in-progress");
  CHECK(heading_anchor("\"quoted\" <b>") == "quoted-b");
  const auto html = pgvigil::render_runbook_html("# A\n\n## Same\n\n## Same\n", "");
  CHECK(html.find("id=\"same\"") != std::string::npos);
  CHECK(html.find("id=\"same-1\"") != std::string::npos);
  CHECK(html.find("markdown</a>") == std::string::npos);  // no source to link
}
