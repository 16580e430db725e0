#pragma once
// The runbooks as HTML pages: /runbooks/<Alert> and the index /runbooks/.
// The markdown (docs/runbooks/, compiled in) is rendered once, at start, with
// cmark-gfm (CommonMark plus GitHub's tables, which the runbooks use) in safe
// mode: raw HTML in a page is dropped and javascript: links are emptied, so
// nothing in a page's text can become markup. Links between runbooks point at
// the HTML pages; headings get GitHub's anchors, which the pages link to.
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "daemon/runbooks.hpp"

namespace pgvigil {

// One page: markdown -> a whole HTML document titled after its first heading.
// `source_path` is the .md URL the page links back to (may be empty).
std::string render_runbook_html(std::string_view markdown, std::string_view source_path);

// Every embedded page rendered, keyed by the name in its URL: "PostgresDown"
// for PostgresDown.md, "" for the index (README.md).
std::map<std::string, std::string, std::less<>> render_runbook_pages(
    std::span<const EmbeddedRunbook> runbooks);

// GitHub's heading anchor: lowercase, punctuation dropped, spaces to '-'.
std::string heading_anchor(std::string_view heading_text);

}  // namespace pgvigil
