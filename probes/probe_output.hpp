#pragma once
// What every SQL probe writes the same way: the permission gauge and one-line
// evidence text.
#include <span>
#include <string>
#include <string_view>

#include "probes/probe.hpp"
#include "probes/query_result.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil {

// True when any statement of the round failed for lack of privilege (42501).
bool any_permission_denied(std::span<const QueryResult> results) noexcept;

// pgvigil_probe_permission_denied{probe,...}: 1 when a statement of the probe
// failed for lack of privilege, so a missing grant shows instead of silence.
void report_permission_denied(SampleSink& out, const Labels& labels, bool denied);

// One line of evidence: control characters become spaces, and text past
// `limit` bytes is cut at a UTF-8 character boundary and marked with "...".
std::string clip_evidence(std::string_view text, std::size_t limit = 200);

// A per-database probe's section of a round's evidence: "database NAME:\n"
// and `lines`, appended to what the round's earlier databases wrote under
// `key`, so one evidence entry covers every database of the round.
void append_database_evidence(SampleSink& out, std::string_view key, std::string_view database,
                              std::string_view lines);

// A probe's `top_n` from the target's [target.probes.NAME], clamped to
// 1..max_n; default_n when unset.
std::size_t configured_top_n(const ProbeContext& ctx, std::string_view probe, std::size_t default_n,
                             std::size_t max_n);

}  // namespace pgvigil
