#include "daemon/runbook_pages.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "daemon/pages.hpp"

namespace pgvigil {
namespace {

struct ParserDeleter {
  void operator()(cmark_parser* parser) const noexcept { cmark_parser_free(parser); }
};
struct NodeDeleter {
  void operator()(cmark_node* node) const noexcept { cmark_node_free(node); }
};
struct CharDeleter {
  void operator()(char* text) const noexcept { std::free(text); }
};

// The text of a node as a reader sees it: text and code spans, markup dropped.
std::string plain_text(cmark_node* node) {
  std::string text;
  cmark_iter* iter = cmark_iter_new(node);
  for (auto event = cmark_iter_next(iter); event != CMARK_EVENT_DONE;
       event = cmark_iter_next(iter)) {
    if (event != CMARK_EVENT_ENTER) continue;
    cmark_node* current = cmark_iter_get_node(iter);
    const auto type = cmark_node_get_type(current);
    if (type == CMARK_NODE_TEXT || type == CMARK_NODE_CODE) {
      if (const char* literal = cmark_node_get_literal(current)) text += literal;
    } else if (type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK) {
      text += ' ';
    }
  }
  cmark_iter_free(iter);
  return text;
}

bool is_page_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// "PostgresDown.md#dns" -> "PostgresDown#dns"; "README.md" -> "./". Empty when
// the URL is not a sibling runbook.
std::string sibling_page_url(std::string_view url) {
  const auto hash = url.find('#');
  const auto path = url.substr(0, hash);
  const auto fragment = hash == std::string_view::npos ? std::string_view{} : url.substr(hash);
  if (!path.ends_with(".md")) return {};
  const auto name = path.substr(0, path.size() - 3);
  if (!is_page_name(name)) return {};
  return (name == "README" ? std::string("./") : std::string(name)) + std::string(fragment);
}

bool is_external(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://") || url.starts_with("mailto:");
}

void set_custom(cmark_node* node, const std::string& on_enter, const std::string& on_exit) {
  cmark_node_set_on_enter(node, on_enter.c_str());
  cmark_node_set_on_exit(node, on_exit.c_str());
}

// Headings get GitHub's anchors (the pages link to them); links to sibling
// runbooks go to their HTML pages; a link to the rest of docs/ (not served)
// becomes its text plus the file's path in the source tree.
void rewrite(cmark_node* document) {
  std::vector<cmark_node*> headings;
  std::vector<cmark_node*> links;
  cmark_iter* iter = cmark_iter_new(document);
  for (auto event = cmark_iter_next(iter); event != CMARK_EVENT_DONE;
       event = cmark_iter_next(iter)) {
    if (event != CMARK_EVENT_ENTER) continue;
    cmark_node* node = cmark_iter_get_node(iter);
    if (cmark_node_get_type(node) == CMARK_NODE_HEADING) headings.push_back(node);
    if (cmark_node_get_type(node) == CMARK_NODE_LINK) links.push_back(node);
  }
  cmark_iter_free(iter);

  std::set<std::string> used;
  for (cmark_node* heading : headings) {
    const std::string base = heading_anchor(plain_text(heading));
    std::string anchor = base;
    for (int n = 1; used.contains(anchor); ++n) anchor = base + "-" + std::to_string(n);
    used.insert(anchor);
    // The anchor's characters are [a-z0-9_-] and bytes >= 0x80: nothing to escape.
    cmark_node* target = cmark_node_new(CMARK_NODE_CUSTOM_INLINE);
    set_custom(target, "<a class=\"anchor\" id=\"" + anchor + "\" href=\"#" + anchor + "\">#</a> ",
               "");
    cmark_node_prepend_child(heading, target);
  }

  for (cmark_node* link : links) {
    const std::string url = cmark_node_get_url(link) ? cmark_node_get_url(link) : "";
    if (url.empty() || url.starts_with('#') || is_external(url)) continue;
    if (auto page = sibling_page_url(url); !page.empty()) {
      cmark_node_set_url(link, page.c_str());
      continue;
    }
    // Not served by the daemon: keep the words; a file of docs/ is named. Other
    // schemes (javascript:, data:...) lose their link, not just their URL.
    while (cmark_node* child = cmark_node_first_child(link)) {
      cmark_node_unlink(child);
      cmark_node_insert_before(link, child);
    }
    const auto colon = url.find(':');
    if (colon == std::string::npos || url.find('/') < colon) {
      std::string file = url.substr(0, url.find('#'));
      if (file.starts_with("../")) file = "docs/" + file.substr(3);
      cmark_node* note = cmark_node_new(CMARK_NODE_TEXT);
      cmark_node_set_literal(note, (" (" + file + " in the pgvigil sources)").c_str());
      cmark_node_insert_before(link, note);
    }
    cmark_node_free(link);
  }
}

cmark_syntax_extension* table_extension() {
  static std::once_flag once;
  std::call_once(once, [] { cmark_gfm_core_extensions_ensure_registered(); });
  cmark_syntax_extension* table = cmark_find_syntax_extension("table");
  if (table == nullptr) throw std::runtime_error("cmark-gfm has no table extension");
  return table;
}

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;"
    "line-height:1.45;color:#1d1d1f}"
    "nav{font-size:.9rem;margin-bottom:1rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;"
    "vertical-align:top}"
    "pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}"
    "code{background:#f4f4f4;padding:0 .2rem}pre code{padding:0}"
    "a.anchor{color:#bbb;text-decoration:none;font-size:.8em}";

}  // namespace

std::string heading_anchor(std::string_view heading_text) {
  std::string anchor;
  for (char c : heading_text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || c == '_' || c == '-' || std::isdigit(byte)) {
      anchor += c;
    } else if (std::isalpha(byte)) {
      anchor += static_cast<char>(std::tolower(byte));
    } else if (c == ' ') {
      anchor += '-';
    }
  }
  return anchor;
}

std::string render_runbook_html(std::string_view markdown, std::string_view source_path) {
  cmark_syntax_extension* table = table_extension();
  std::unique_ptr<cmark_parser, ParserDeleter> parser(cmark_parser_new(CMARK_OPT_DEFAULT));
  if (!parser || cmark_parser_attach_syntax_extension(parser.get(), table) == 0)
    throw std::runtime_error("cmark-gfm: cannot set up the parser");
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeDeleter> document(cmark_parser_finish(parser.get()));
  if (!document) throw std::runtime_error("cmark-gfm: cannot parse the page");

  std::string title = "pgvigil runbook";
  for (cmark_node* node = cmark_node_first_child(document.get()); node != nullptr;
       node = cmark_node_next(node)) {
    if (cmark_node_get_type(node) == CMARK_NODE_HEADING) {
      title = plain_text(node);
      break;
    }
  }
  rewrite(document.get());
  // CMARK_OPT_DEFAULT is safe mode: raw HTML becomes a comment, unsafe URLs empty.
  std::unique_ptr<char, CharDeleter> body(cmark_render_html(
      document.get(), CMARK_OPT_DEFAULT, cmark_parser_get_syntax_extensions(parser.get())));
  if (!body) throw std::runtime_error("cmark-gfm: cannot render the page");

  std::string html =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
      html_escape(title) + " · pgvigil</title><style>" + std::string(kStyle) +
      "</style></head><body><nav><a href=\"../\">status</a> · <a href=\"./\">all runbooks</a>";
  if (!source_path.empty()) html += " · <a href=\"" + html_escape(source_path) + "\">markdown</a>";
  html += "</nav><main>\n";
  html += body.get();
  html += "</main></body></html>\n";
  return html;
}

std::map<std::string, std::string, std::less<>> render_runbook_pages(
    std::span<const EmbeddedRunbook> runbooks) {
  std::map<std::string, std::string, std::less<>> pages;
  for (const auto& runbook : runbooks) {
    std::string_view name = runbook.file;
    if (name.ends_with(".md")) name.remove_suffix(3);
    const std::string key = name == "README" ? std::string() : std::string(name);
    pages.emplace(key, render_runbook_html(runbook.markdown, runbook.file));
  }
  return pages;
}

}  // namespace pgvigil
