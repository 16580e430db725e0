#pragma once
// A target's include_databases / exclude_databases (fnmatch globs) in the two
// places they act: on a database name the daemon already has (which
// databases a per-database probe walks, which datname series a server-wide
// probe keeps), and inside a server-wide probe's SQL, so that a server with
// hundreds of databases does not compute (say) pg_database_size() for all of
// them for a target that keeps two.
#include <span>
#include <string>
#include <string_view>

namespace pgvigil {

struct DatabasePatterns {
  std::span<const std::string> include;  // empty: every database
  std::span<const std::string> exclude;

  bool empty() const noexcept { return include.empty() && exclude.empty(); }
};

// Whether `name` passes include (empty: every one) and then exclude.
bool database_selected(const DatabasePatterns& patterns, std::string_view name);

// An SQL boolean expression over `column` (a datname) that is true for every
// database database_selected() keeps and may be true for a few more (a
// bracket expression such as [ab] is widened to any one character): the
// daemon still applies database_selected() to the result, so this only has
// to narrow, never to decide. "TRUE" when there is nothing to narrow.
std::string datname_prefilter(const DatabasePatterns& patterns, std::string_view column);

}  // namespace pgvigil
