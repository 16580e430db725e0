#include "probes/checks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

enum Statement : std::size_t { kBegin, kTimeout, kCheck, kCommit, kCount };

// A trailing ';' would make the statement two (the second empty), which the
// extended protocol refuses.
std::string single_statement(std::string_view sql) {
  while (!sql.empty() && (sql.back() == ';' || sql.back() == ' ' || sql.back() == '\n' ||
                          sql.back() == '\t' || sql.back() == '\r'))
    sql.remove_suffix(1);
  return std::string(sql);
}

}  // namespace

CustomCheckProbe::CustomCheckProbe(config::CheckConfig check) : check_(std::move(check)) {}

bool check_passes(config::Comparison comparison, double value, double threshold) noexcept {
  switch (comparison) {
    case config::Comparison::greater:
      return value > threshold;
    case config::Comparison::greater_equal:
      return value >= threshold;
    case config::Comparison::less:
      return value < threshold;
    case config::Comparison::less_equal:
      return value <= threshold;
    case config::Comparison::equal:
      return value == threshold;
    case config::Comparison::not_equal:
      return value != threshold;
  }
  return false;
}

std::vector<Query> CustomCheckProbe::queries(const ProbeContext&) const {
  const auto timeout_ms = std::max<long long>(check_.timeout.count(), 1);
  return {
      {"check_begin", "BEGIN READ ONLY"},
      {"check_timeout", fmt::format("SET LOCAL statement_timeout = '{}ms'", timeout_ms)},
      {"check", single_statement(check_.sql)},
      {"check_commit", "COMMIT"},
  };
}

void CustomCheckProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                               SampleSink& out) {
  const Labels labels{{"check", check_.name}};
  // The first failure is the cause; later ones in the same transaction only
  // say it was aborted. COMMIT is not looked at: the value was already read.
  const QueryResult* failure = nullptr;
  for (std::size_t i = 0; i < std::min<std::size_t>(results.size(), kCommit); ++i)
    if (!results[i].ok) {
      failure = &results[i];
      break;
    }
  static const QueryResult kMissing = QueryResult::failure("", "no result for the check query");
  if (failure == nullptr && results.size() <= kCheck) failure = &kMissing;

  report_permission_denied(out, {{"probe", "check"}, {"check", check_.name}},
                           failure != nullptr && failure->sqlstate == "42501");
  out.gauge("pgvigil_check_error", "1 when the check's SQL failed", labels,
            failure != nullptr ? 1.0 : 0.0);
  const std::string evidence_key = "check." + check_.name;
  if (failure != nullptr) {
    out.gauge("pgvigil_check_ok", "1 when the check's value satisfies its expectation", labels,
              0.0);
    out.evidence(evidence_key,
                 clip_evidence(fmt::format("error{}: {}",
                                           failure->sqlstate.empty() ? "" : " " + failure->sqlstate,
                                           failure->error)));
    return;
  }

  const auto& result = results[kCheck];
  std::optional<double> value;
  if (!result.columns.empty() && !result.rows.empty() && !result.rows[0].empty())
    value = result.number(0, result.columns[0]);
  if (value)
    out.gauge("pgvigil_check_value", "First column of the first row the check returned", labels,
              *value);
  // No numeric value cannot satisfy an expectation: the check is not OK.
  const bool passes = value && check_passes(check_.comparison, *value, check_.threshold);
  out.gauge("pgvigil_check_ok", "1 when the check's value satisfies its expectation", labels,
            passes ? 1.0 : 0.0);
  if (value)
    out.evidence(evidence_key,
                 clip_evidence(fmt::format("value {} (expected {})", *value, check_.expect)));
  else
    out.evidence(evidence_key, clip_evidence(fmt::format("no numeric value returned (expected {})",
                                                         check_.expect)));
}

std::unique_ptr<SqlProbe> make_custom_check_probe(const config::CheckConfig& check) {
  return std::make_unique<CustomCheckProbe>(check);
}

}  // namespace pgvigil
