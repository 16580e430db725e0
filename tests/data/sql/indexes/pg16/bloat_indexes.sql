
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
  WHERE am.amname = 'btree' AND c.relpages >= 8 AND c.reltuples > 0
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
LIMIT 10
