#include "probes/statements.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// The view is read once (MATERIALIZED). Rows that differ only in toplevel
// (pg_stat_statements.track = all, 14+) are summed so every label set is
// unique. {time} is total_exec_time from 13 on, total_time before. With
// include/exclude_databases the top N is of the databases they select.
constexpr std::string_view kStatementsSql = R"sql(
WITH s AS MATERIALIZED (
  SELECT userid, dbid, queryid, sum(calls) AS calls, sum({time}) AS total_ms, sum(rows) AS rows,
         min(left(query, 200)) AS query
  FROM pg_stat_statements
  WHERE queryid IS NOT NULL
    AND dbid IN (SELECT oid FROM pg_database WHERE {datnames})
  GROUP BY userid, dbid, queryid),
top AS (
  (SELECT userid, dbid, queryid FROM s ORDER BY total_ms DESC LIMIT {top_n})
  UNION
  (SELECT userid, dbid, queryid FROM s
   ORDER BY total_ms / NULLIF(calls, 0) DESC NULLS LAST LIMIT {top_n}))
SELECT pg_get_userbyid(s.userid) AS "user", d.datname, s.queryid, s.calls,
       s.total_ms / 1000.0 AS seconds_total,
       s.total_ms / NULLIF(s.calls, 0) / 1000.0 AS mean_seconds,
       s.rows, s.query
FROM s
JOIN top USING (userid, dbid, queryid)
JOIN pg_database AS d ON d.oid = s.dbid
ORDER BY seconds_total DESC, s.queryid)sql";

std::size_t top_n(const ProbeContext& ctx) {
  return configured_top_n(ctx, "statements", StatementsProbe::kDefaultTopN,
                          StatementsProbe::kMaxTopN);
}

}  // namespace

std::vector<Query> StatementsProbe::queries(const ProbeContext& ctx) const {
  if (!ctx.server.has_pg_stat_statements) return {};
  const bool has_exec_time = ctx.server.version_num >= 130000;
  return {{"statements",
           fmt::format(fmt::runtime(kStatementsSql),
                       fmt::arg("time", has_exec_time ? "total_exec_time" : "total_time"),
                       fmt::arg("top_n", top_n(ctx)),
                       fmt::arg("datnames", datname_prefilter(ctx.databases, "datname")))}};
}

void StatementsProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                              SampleSink& out) {
  if (results.empty()) return;  // no pg_stat_statements here: nothing was asked
  const auto& statements = results[0];
  report_permission_denied(out, {{"probe", "statements"}}, any_permission_denied(results));
  if (!statements.ok) return;

  std::string text;
  std::map<std::string, Totals> current;
  for (std::size_t row = 0; row < statements.rows.size(); ++row) {
    auto queryid = statements.text(row, "queryid");
    if (!queryid) continue;
    const Labels labels{{"queryid", std::string(*queryid)},
                        {"datname", std::string(statements.text(row, "datname").value_or(""))},
                        {"user", std::string(statements.text(row, "user").value_or(""))}};
    const auto calls = statements.number(row, "calls");
    const auto total = statements.number(row, "seconds_total");
    if (calls)
      out.counter("pg_stat_statements_calls_total", "Number of times executed", labels, *calls);
    if (total)
      out.counter("pg_stat_statements_seconds_total",
                  "Total time spent executing the statement, in seconds", labels, *total);
    if (auto mean = statements.number(row, "mean_seconds"))
      out.gauge("pg_stat_statements_mean_seconds",
                "Mean execution time of the statement, in seconds", labels, *mean);
    if (calls && total) {
      const std::string key =
          labels[0].second + '\x1f' + labels[1].second + '\x1f' + labels[2].second;
      current[key] = {*calls, *total};
      // Against the previous round; a reset (counters going down) starts over.
      auto before = previous_.find(key);
      if (before != previous_.end() && *calls >= before->second.calls &&
          *total >= before->second.seconds) {
        const double recent_calls = *calls - before->second.calls;
        out.gauge("pg_stat_statements_recent_calls",
                  "Calls of the statement since the previous round of this probe", labels,
                  recent_calls);
        if (recent_calls > 0)
          out.gauge("pg_stat_statements_recent_mean_seconds",
                    "Mean execution time of the statement's calls since the previous round, in "
                    "seconds",
                    labels, (*total - before->second.seconds) / recent_calls);
      }
    }
    if (auto rows = statements.number(row, "rows"))
      out.counter("pg_stat_statements_rows_total",
                  "Total number of rows retrieved or affected by the statement", labels, *rows);
    text += fmt::format(
        "{}: {}\n", *queryid,
        clip_evidence(statements.text(row, "query").value_or("<query text not visible>")));
  }
  previous_ = std::move(current);
  out.evidence("statements.top", text.empty() ? "no statements recorded" : text);
}

std::unique_ptr<SqlProbe> make_statements_probe() {
  return std::make_unique<StatementsProbe>();
}

}  // namespace pgvigil
