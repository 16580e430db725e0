#include "probes/collectors.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

#include "probes/checks.hpp"
#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

enum Statement : std::size_t { kBegin, kTimeout, kQuery, kCommit };

constexpr std::string_view kErrorHelp =
    "1 when the collector's last round failed (SQL error, "
    "timeout, a missing or non-numeric column)";
constexpr std::string_view kRowsHelp = "Rows the collector's query returned in its last round";
constexpr std::string_view kDroppedHelp =
    "Rows and series a collector dropped: past max_rows (reason=rows), past max_series "
    "(reason=series), or a label set seen twice in one round (reason=duplicate)";
constexpr std::string_view kCheckOkHelp = "1 when the check's value satisfies its expectation";

// A trailing ';' would make the statement two, which the extended protocol refuses.
std::string single_statement(std::string_view sql) {
  while (!sql.empty() && (sql.back() == ';' || sql.back() == ' ' || sql.back() == '\n' ||
                          sql.back() == '\t' || sql.back() == '\r'))
    sql.remove_suffix(1);
  return std::string(sql);
}

bool is_value(const config::CollectorColumn& column) {
  return column.usage == config::ColumnUsage::gauge || column.usage == config::ColumnUsage::counter;
}

std::string label_text(const Labels& labels) {
  std::string text;
  for (const auto& [key, value] : labels) {
    if (!text.empty()) text += ',';
    text += key + "=\"" + value + "\"";
  }
  return "{" + text + "}";
}

}  // namespace

const config::CollectorBranch* select_branch(const config::CollectorConfig& collector,
                                             int version_num) noexcept {
  for (const auto& branch : collector.branches)
    if (version_num >= branch.min_version &&
        (branch.max_version == 0 || version_num <= branch.max_version))
      return &branch;
  return nullptr;
}

CollectorProbe::CollectorProbe(config::CollectorConfig collector)
    : collector_(std::move(collector)), name_("collector:" + collector_.name) {}

std::vector<Query> CollectorProbe::queries(const ProbeContext& ctx) const {
  const auto* branch = select_branch(collector_, ctx.server.version_num);
  if (branch == nullptr) return {};
  const auto timeout_ms = std::max<long long>(collector_.timeout.count(), 1);
  return {
      {"collector_begin", "BEGIN READ ONLY"},
      {"collector_timeout", fmt::format("SET LOCAL statement_timeout = '{}ms'", timeout_ms)},
      {"collector", single_statement(branch->sql)},
      {"collector_commit", "COMMIT"},
  };
}

void CollectorProbe::note_state(const ProbeContext& ctx, const std::string& error) {
  const std::string key = per_database() ? std::string(ctx.database) : std::string();
  const bool failing = !error.empty();
  auto [it, first] = failing_.emplace(key, false);
  if (first || it->second != failing) {
    const std::string in = per_database() ? " in database " + key : std::string();
    if (failing)
      spdlog::warn("target {}: collector {} ({}){} failed: {}", ctx.target.name, collector_.name,
                   collector_.defined_at, in, error);
    else if (!first)
      spdlog::info("target {}: collector {} ({}){} works again", ctx.target.name, collector_.name,
                   collector_.defined_at, in);
  }
  it->second = failing;
}

void CollectorProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                             SampleSink& out) {
  if (results.empty()) return;  // no branch for this server: no query, no sample
  const std::string database = per_database() ? std::string(ctx.database) : std::string();
  Labels own{{"collector", collector_.name}};
  if (per_database()) own.emplace_back("datname", database);
  const auto checks = std::count_if(collector_.columns.begin(), collector_.columns.end(),
                                    [](const auto& c) { return c.has_expect; });

  // The error of this round, if any: the first failed statement is the cause
  // (later ones only say the transaction was aborted), then the shape.
  std::string error;
  for (std::size_t i = 0; i < std::min<std::size_t>(results.size(), kCommit); ++i)
    if (!results[i].ok) {
      const auto& failed = results[i];
      error =
          failed.sqlstate == "57014"
              ? fmt::format("timed out after {} ms (statement_timeout)", collector_.timeout.count())
              : fmt::format("error{}: {}", failed.sqlstate.empty() ? "" : " " + failed.sqlstate,
                            failed.error);
      break;
    }
  if (error.empty() && results.size() <= kQuery) error = "no result for the collector's query";

  const QueryResult* result = error.empty() ? &results[kQuery] : nullptr;
  std::vector<int> index(collector_.columns.size(), -1);
  if (result != nullptr) {
    for (std::size_t c = 0; c < collector_.columns.size() && error.empty(); ++c) {
      const auto& column = collector_.columns[c];
      index[c] = result->column(column.name);
      if (index[c] < 0 && column.usage != config::ColumnUsage::discard)
        error = "column " + column.name + " is not in the query's result";
    }
    // A value that is not a number is an error for the whole round: a
    // half-read result would look like series vanishing.
    const std::size_t rows = std::min(result->rows.size(), collector_.max_rows);
    for (std::size_t c = 0; c < collector_.columns.size() && error.empty(); ++c) {
      if (!is_value(collector_.columns[c])) continue;
      for (std::size_t r = 0; r < rows && error.empty(); ++r) {
        const auto& cell = result->rows[r][std::size_t(index[c])];
        if (cell && !result->number(r, collector_.columns[c].name))
          error = "column " + collector_.columns[c].name + ": " + clip_evidence(*cell, 40) +
                  " is not a number";
      }
    }
  }

  note_state(ctx, error);
  report_permission_denied(out, {{"probe", "collector"}, {"collector", collector_.name}},
                           any_permission_denied(results));
  out.gauge("pgvigil_collector_error", kErrorHelp, own, error.empty() ? 0.0 : 1.0);
  const auto emit_dropped = [&] {
    for (const char* reason : {"rows", "series", "duplicate"}) {
      Labels labels = own;
      labels.emplace_back("reason", reason);
      out.counter("pgvigil_collector_dropped_total", kDroppedHelp, labels,
                  dropped_[{database, reason}]);
    }
  };
  const auto evidence = [&](const std::string& key, const std::string& text) {
    if (per_database())
      append_database_evidence(out, key, database, text);
    else
      out.evidence(key, text);
  };
  if (!error.empty()) {
    evidence("collector." + collector_.name, clip_evidence(error));
    emit_dropped();
    // A failing query cannot satisfy an expectation.
    for (const auto& column : collector_.columns) {
      if (!column.has_expect) continue;
      const std::string check = collector_.metric_name(column);
      Labels labels{{"check", check}};
      if (per_database()) labels.emplace_back("datname", database);
      out.gauge("pgvigil_check_ok", kCheckOkHelp, labels, 0.0);
      evidence("check." + check, clip_evidence(error));
    }
    return;
  }

  out.gauge("pgvigil_collector_rows", kRowsHelp, own, double(result->rows.size()));
  const std::size_t rows = std::min(result->rows.size(), collector_.max_rows);
  dropped_[{database, "rows"}] += double(result->rows.size() - rows);

  // The series cap counts what earlier databases of the same round wrote.
  std::size_t series = 0;
  for (const auto& column : collector_.columns)
    if (is_value(column)) series += out.series_count(collector_.metric_name(column));
  std::set<std::string> seen;
  std::map<std::string, std::string> failing_lines;  // check -> evidence
  for (std::size_t r = 0; r < rows; ++r) {
    Labels labels;
    if (per_database()) labels.emplace_back("datname", database);
    for (std::size_t c = 0; c < collector_.columns.size(); ++c)
      if (collector_.columns[c].usage == config::ColumnUsage::label)
        labels.emplace_back(collector_.columns[c].name,
                            std::string(result->rows[r][std::size_t(index[c])].value_or("")));
    if (!seen.insert(label_text(labels)).second) {
      dropped_[{database, "duplicate"}] += 1;
      continue;
    }
    for (std::size_t c = 0; c < collector_.columns.size(); ++c) {
      const auto& column = collector_.columns[c];
      if (!is_value(column)) continue;
      const auto value = result->number(r, column.name);
      if (!value) continue;  // NULL: no sample
      if (series >= collector_.max_series) {
        dropped_[{database, "series"}] += 1;
        continue;
      }
      ++series;
      const std::string metric = collector_.metric_name(column);
      const std::string help = column.help.empty()
                                   ? "Column " + column.name + " of collector " + collector_.name
                                   : column.help;
      if (column.usage == config::ColumnUsage::counter)
        out.counter(metric, help, labels, *value);
      else
        out.gauge(metric, help, labels, *value);
      if (!column.has_expect) continue;
      Labels check_labels{{"check", metric}};
      check_labels.insert(check_labels.end(), labels.begin(), labels.end());
      const bool passes = check_passes(column.comparison, *value, column.threshold);
      out.gauge("pgvigil_check_ok", kCheckOkHelp, check_labels, passes ? 1.0 : 0.0);
      if (!passes) {
        auto& lines = failing_lines[metric];
        if (!lines.empty()) lines += "; ";
        lines +=
            fmt::format("{} value {} (expected {})", label_text(labels), *value, column.expect);
      }
    }
  }
  emit_dropped();
  if (checks > 0)
    for (const auto& [check, lines] : failing_lines)
      evidence("check." + check, clip_evidence(lines, 400));
}

}  // namespace pgvigil
