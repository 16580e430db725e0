#include "probes/probe_output.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "config/text.hpp"

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
  const std::string_view kept = config::clip_utf8(text, limit);
  std::string out(kept);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (kept.size() < text.size()) out += "...";
  return out;
}

std::size_t configured_top_n(const ProbeContext& ctx, std::string_view probe, std::size_t default_n,
                             std::size_t max_n) {
  auto it = ctx.target.probes.find(std::string(probe));
  if (it == ctx.target.probes.end() || !it->second.top_n) return default_n;
  return std::clamp<std::size_t>(*it->second.top_n, 1, max_n);
}

void append_database_evidence(SampleSink& out, std::string_view key, std::string_view database,
                              std::string_view lines) {
  std::string text = fmt::format("database {}:\n{}", clip_evidence(database), lines);
  if (auto it = out.evidence().find(key); it != out.evidence().end()) text = it->second + text;
  out.evidence(key, std::move(text));
}

}  // namespace pgvigil
