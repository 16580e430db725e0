#include "probes/indexes.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// The largest indexes and how much they are used. Bounded in SQL.
constexpr std::string_view kTopSql = R"sql(
SELECT current_database() AS datname, s.schemaname, s.relname, s.indexrelname,
       s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       pg_relation_size(s.indexrelid) AS size_bytes,
       {last_idx_scan} AS last_idx_scan
FROM pg_stat_user_indexes AS s
ORDER BY size_bytes DESC, s.schemaname, s.relname, s.indexrelname
LIMIT {top_n})sql";

constexpr std::string_view kLastIdxScanSince16 = "EXTRACT(EPOCH FROM s.last_idx_scan)";
constexpr std::string_view kLastIdxScanBefore16 = "NULL::numeric";

// Never scanned since the statistics were reset, and not there to enforce a
// constraint (unique, primary key, exclusion): candidates for dropping.
constexpr std::string_view kUnusedSql = R"sql(
SELECT current_database() AS datname, s.schemaname, s.relname, s.indexrelname,
       pg_relation_size(s.indexrelid) AS size_bytes
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = s.indexrelid)
ORDER BY size_bytes DESC, s.schemaname, s.relname, s.indexrelname
LIMIT {top_n})sql";

// Table bloat: the pages the table has against the pages its rows would fill
// when packed, from the row count (reltuples) and each column's average width
// and NULL fraction (pg_stats). A row is a 23-byte header plus NULL bitmap,
// aligned to 8, plus its aligned data, plus a 4-byte line pointer; a page
// holds (block_size - 24) * fillfactor of them. A table with a column that
// pg_stats does not describe (never analyzed, or a column the role may not
// read) gets no estimate; `unestimated` counts those. Only tables with some
// bloat are listed: a packed table adds no series.
constexpr std::string_view kTableBloatSql = R"sql(
WITH candidates AS (
  SELECT c.oid, n.nspname AS schemaname, c.relname, c.relpages::numeric AS relpages,
         c.reltuples::numeric AS reltuples,
         current_setting('block_size')::numeric AS block_size,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::numeric
                   FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND c.relpages >= {min_pages} AND c.reltuples > 0
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
), widths AS (
  SELECT t.oid, count(*) AS columns, count(s.avg_width) AS columns_with_statistics,
         sum(s.avg_width * (1 - s.null_frac)) AS data_width, bool_or(s.null_frac > 0) AS has_nulls
  FROM candidates AS t
  JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stats AS s
    ON s.schemaname = t.schemaname AND s.tablename = t.relname AND s.attname = a.attname
       AND NOT s.inherited
  GROUP BY t.oid
), estimates AS (
  SELECT t.schemaname, t.relname, t.relpages, t.block_size,
         CASE WHEN w.columns_with_statistics = w.columns THEN
           ceil(t.reltuples / greatest(1, floor((t.block_size - 24) * t.fillfactor / 100 /
             (8 * ceil((23 + CASE WHEN w.has_nulls THEN ceil(w.columns / 8.0) ELSE 0 END) / 8.0)
              + 8 * ceil(w.data_width / 8.0) + 4))))
         END AS expected_pages
  FROM candidates AS t
  JOIN widths AS w ON w.oid = t.oid
)
SELECT current_database() AS datname, schemaname, relname,
       CASE WHEN expected_pages IS NOT NULL
            THEN greatest(relpages - expected_pages, 0) * block_size END AS bloat_bytes,
       CASE WHEN expected_pages IS NOT NULL
            THEN greatest(relpages - expected_pages, 0) / relpages END AS bloat_ratio,
       count(*) FILTER (WHERE expected_pages IS NULL) OVER () AS unestimated
FROM estimates
WHERE expected_pages IS NULL OR relpages > expected_pages
ORDER BY bloat_bytes DESC NULLS LAST, schemaname, relname
LIMIT {top_n})sql";

// B-tree bloat, the same way: an index tuple is an 8-byte header (plus a
// 4-byte NULL bitmap when a key column has NULLs) and its key data, aligned
// to 8, plus a line pointer; a leaf page holds (block_size - 24 - 16 special)
// * fillfactor (90 by default) of them; one metapage. Inner pages and
// deduplication (13+) are not modelled, so the estimate leans low. Expression
// columns have no statistics under the table: no estimate for those indexes.
constexpr std::string_view kIndexBloatSql = R"sql(
WITH candidates AS (
  SELECT c.oid, i.indrelid, n.nspname AS schemaname, t.relname, c.relname AS indexrelname,
         c.relpages::numeric AS relpages, c.reltuples::numeric AS reltuples,
         current_setting('block_size')::numeric AS block_size,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::numeric
                   FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor,
         i.indkey::int2[] AS key_columns
  FROM pg_index AS i
  JOIN pg_class AS c ON c.oid = i.indexrelid
  JOIN pg_class AS t ON t.oid = i.indrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_am AS am ON am.oid = c.relam
  WHERE am.amname = 'btree' AND c.relpages >= {min_pages} AND c.reltuples > 0
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
), widths AS (
  SELECT x.oid, count(*) AS columns, count(s.avg_width) AS columns_with_statistics,
         sum(s.avg_width * (1 - s.null_frac)) AS data_width, bool_or(s.null_frac > 0) AS has_nulls
  FROM candidates AS x
  CROSS JOIN LATERAL unnest(x.key_columns) AS k(attnum)
  LEFT JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
  LEFT JOIN pg_stats AS s
    ON s.schemaname = x.schemaname AND s.tablename = x.relname AND s.attname = a.attname
       AND NOT s.inherited
  GROUP BY x.oid
), estimates AS (
  SELECT x.schemaname, x.relname, x.indexrelname, x.relpages, x.block_size,
         CASE WHEN w.columns_with_statistics = w.columns THEN
           1 + ceil(x.reltuples / greatest(1, floor((x.block_size - 40) * x.fillfactor / 100 /
             (8 * ceil((8 + CASE WHEN w.has_nulls THEN 4 ELSE 0 END + w.data_width) / 8.0) + 4))))
         END AS expected_pages
  FROM candidates AS x
  JOIN widths AS w ON w.oid = x.oid
)
SELECT current_database() AS datname, schemaname, relname, indexrelname,
       CASE WHEN expected_pages IS NOT NULL
            THEN greatest(relpages - expected_pages, 0) * block_size END AS bloat_bytes,
       CASE WHEN expected_pages IS NOT NULL
            THEN greatest(relpages - expected_pages, 0) / relpages END AS bloat_ratio,
       count(*) FILTER (WHERE expected_pages IS NULL) OVER () AS unestimated
FROM estimates
WHERE expected_pages IS NULL OR relpages > expected_pages
ORDER BY bloat_bytes DESC NULLS LAST, schemaname, relname, indexrelname
LIMIT {top_n})sql";

enum Statement : std::size_t { kTop, kUnused, kTableBloat, kIndexBloat, kCount };

struct IndexColumn {
  std::string_view column;
  std::string_view metric;
  bool counter;
  std::string_view help;
};

// postgres_exporter's names (collector/pg_stat_user_indexes.go, pg_index_size.go).
constexpr std::array<IndexColumn, 5> kIndexColumns{{
    {"idx_scan", "pg_stat_user_indexes_idx_scan_total", true, "Number of scans of this index"},
    {"idx_tup_read", "pg_stat_user_indexes_idx_tup_read", true,
     "Index entries returned by scans of this index"},
    {"idx_tup_fetch", "pg_stat_user_indexes_idx_tup_fetch", true,
     "Live table rows fetched by simple scans of this index"},
    {"size_bytes", "pg_index_size", false, "Size of this index on disk, in bytes"},
    {"last_idx_scan", "pg_stat_user_indexes_last_idx_scan_time", false,
     "When this index was last scanned (unix seconds; 16+)"},
}};

std::size_t top_n(const ProbeContext& ctx) {
  return configured_top_n(ctx, "indexes", IndexesProbe::kDefaultTopN, IndexesProbe::kMaxTopN);
}

// datname, schemaname, relname and (for indexes) indexrelname of one row, or
// nothing when a name is NULL.
std::optional<Labels> relation_labels(const QueryResult& result, std::size_t row,
                                      const ProbeContext& ctx, bool with_index) {
  auto schemaname = result.text(row, "schemaname");
  auto relname = result.text(row, "relname");
  if (!schemaname || !relname) return std::nullopt;
  Labels labels{{"datname", std::string(result.text(row, "datname").value_or(ctx.database))},
                {"schemaname", std::string(*schemaname)},
                {"relname", std::string(*relname)}};
  if (with_index) {
    auto indexrelname = result.text(row, "indexrelname");
    if (!indexrelname) return std::nullopt;
    labels.emplace_back("indexrelname", std::string(*indexrelname));
  }
  return labels;
}

void collect_bloat(const ProbeContext& ctx, const QueryResult& result, std::string_view kind,
                   SampleSink& out) {
  if (!result.ok) return;
  const bool index = kind == "index";
  std::string text;
  for (std::size_t row = 0; row < result.rows.size(); ++row) {
    auto labels = relation_labels(result, row, ctx, index);
    if (!labels) continue;
    auto bytes = result.number(row, "bloat_bytes");
    auto ratio = result.number(row, "bloat_ratio");
    if (bytes)
      out.gauge(index ? "pg_index_bloat_bytes" : "pg_table_bloat_bytes",
                "Estimated space beyond what the rows need when packed, in bytes", *labels, *bytes);
    if (ratio)
      out.gauge(index ? "pg_index_bloat_ratio" : "pg_table_bloat_ratio",
                "Estimated bloat as a fraction of the relation's pages", *labels, *ratio);
    if (bytes && ratio && *bytes > 0)
      text += fmt::format("{} {}.{}{}: {:.0f} MiB estimated bloat, {:.0f} % of its pages\n", kind,
                          clip_evidence((*labels)[1].second), clip_evidence((*labels)[2].second),
                          index ? " index " + clip_evidence((*labels)[3].second) : std::string(),
                          *bytes / (1024.0 * 1024.0), *ratio * 100.0);
  }
  // One evidence key for tables and indexes of every database in the round.
  if (!text.empty()) append_database_evidence(out, "indexes.bloat", ctx.database, text);
  // Every row carries the same count; no row means nothing to estimate.
  const double unestimated =
      result.rows.empty() ? 0.0 : result.number(0, "unestimated").value_or(0.0);
  out.gauge("pgvigil_bloat_unestimated_relations",
            "Relations over the size floor with no bloat estimate: a column pg_stats does not "
            "describe to this role (not analyzed, no SELECT privilege, an expression)",
            {{"datname", std::string(ctx.database)}, {"kind", std::string(kind)}}, unestimated);
}

}  // namespace

std::vector<Query> IndexesProbe::queries(const ProbeContext& ctx) const {
  const auto n = top_n(ctx);
  const bool has_last_idx_scan = ctx.server.version_num >= 160000;
  return {
      {"indexes_top",
       fmt::format(fmt::runtime(kTopSql), fmt::arg("top_n", n),
                   fmt::arg("last_idx_scan",
                            has_last_idx_scan ? kLastIdxScanSince16 : kLastIdxScanBefore16))},
      {"indexes_unused", fmt::format(fmt::runtime(kUnusedSql), fmt::arg("top_n", n))},
      {"bloat_tables", fmt::format(fmt::runtime(kTableBloatSql), fmt::arg("top_n", n),
                                   fmt::arg("min_pages", kBloatMinPages))},
      {"bloat_indexes", fmt::format(fmt::runtime(kIndexBloatSql), fmt::arg("top_n", n),
                                    fmt::arg("min_pages", kBloatMinPages))},
  };
}

void IndexesProbe::collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                           SampleSink& out) {
  // Labelled by database too: collect() runs once per database in a round.
  report_permission_denied(out, {{"probe", "indexes"}, {"datname", std::string(ctx.database)}},
                           any_permission_denied(results));
  if (results.size() < kCount) return;

  if (const auto& top = results[kTop]; top.ok) {
    for (std::size_t row = 0; row < top.rows.size(); ++row) {
      auto labels = relation_labels(top, row, ctx, true);
      if (!labels) continue;
      for (const auto& column : kIndexColumns) {
        auto value = top.number(row, column.column);
        if (!value) continue;
        if (column.counter)
          out.counter(column.metric, column.help, *labels, *value);
        else
          out.gauge(column.metric, column.help, *labels, *value);
      }
    }
  }

  if (const auto& unused = results[kUnused]; unused.ok) {
    std::string text;
    for (std::size_t row = 0; row < unused.rows.size(); ++row) {
      auto labels = relation_labels(unused, row, ctx, true);
      auto size = unused.number(row, "size_bytes");
      if (!labels || !size) continue;
      out.gauge("pg_index_unused_size_bytes",
                "Size of an index never scanned since the statistics were reset that enforces "
                "no constraint, in bytes",
                *labels, *size);
      text += fmt::format("{}.{} on {} ({} bytes)\n", clip_evidence((*labels)[1].second),
                          clip_evidence((*labels)[3].second), clip_evidence((*labels)[2].second),
                          *size);
    }
    if (!text.empty()) append_database_evidence(out, "indexes.unused", ctx.database, text);
  }

  collect_bloat(ctx, results[kTableBloat], "table", out);
  collect_bloat(ctx, results[kIndexBloat], "index", out);
}

std::unique_ptr<SqlProbe> make_indexes_probe() {
  return std::make_unique<IndexesProbe>();
}

}  // namespace pgvigil
