#pragma once
// The runbook pages (docs/runbooks/*.md), compiled in so that every alert's
// runbook_url can point at the daemon that raised it: /runbooks/<Alert>.md is
// always the page for this version of the rules, with nothing to install or
// publish.
#include <span>
#include <string_view>

namespace pgvigil {

struct EmbeddedRunbook {
  std::string_view file;  // "PostgresDown.md"; README.md is the index
  std::string_view markdown;
};

std::span<const EmbeddedRunbook> embedded_runbooks();

}  // namespace pgvigil
