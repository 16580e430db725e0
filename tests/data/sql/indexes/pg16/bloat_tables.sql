
WITH candidates AS (
  SELECT c.oid, n.nspname AS schemaname, c.relname, c.relpages::numeric AS relpages,
         c.reltuples::numeric AS reltuples,
         current_setting('block_size')::numeric AS block_size,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::numeric
                   FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND c.relpages >= 8 AND c.reltuples > 0
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
LIMIT 10
