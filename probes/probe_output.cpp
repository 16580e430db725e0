#include "probes/probe_output.hpp"

namespace pgvigil {

bool any_permission_denied(std::span<const QueryResult> results) noexcept {
  for (const auto& result : results)
    if (!result.ok && result.sqlstate == "42501") return true;
  return false;
}

void report_permission_denied(SampleSink& out, const Labels& labels, bool denied) {
  out.gauge("pgvigil_probe_permission_denied",
            "1 when a statement of this probe failed for lack of privilege (SQLSTATE 42501)",
            labels, denied ? 1.0 : 0.0);
}

std::string clip_evidence(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  for (char c : text) {
    if (out.size() >= limit) break;
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  if (text.size() > out.size()) {
    // Drop a multi-byte character the cut went through: its continuation
    // bytes, then its lead byte.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80) != 0) out.pop_back();
    out += "...";
  }
  return out;
}

}  // namespace pgvigil
