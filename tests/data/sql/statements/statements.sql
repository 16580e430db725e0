
WITH s AS MATERIALIZED (
  SELECT userid, dbid, queryid, sum(calls) AS calls, sum(total_exec_time) AS total_ms, sum(rows) AS rows,
         min(left(query, 200)) AS query
  FROM pg_stat_statements
  WHERE queryid IS NOT NULL
    AND dbid IN (SELECT oid FROM pg_database WHERE TRUE)
  GROUP BY userid, dbid, queryid),
top AS (
  (SELECT userid, dbid, queryid FROM s ORDER BY total_ms DESC LIMIT 10)
  UNION
  (SELECT userid, dbid, queryid FROM s
   ORDER BY total_ms / NULLIF(calls, 0) DESC NULLS LAST LIMIT 10))
SELECT pg_get_userbyid(s.userid) AS "user", d.datname, s.queryid, s.calls,
       s.total_ms / 1000.0 AS seconds_total,
       s.total_ms / NULLIF(s.calls, 0) / 1000.0 AS mean_seconds,
       s.rows, s.query
FROM s
JOIN top USING (userid, dbid, queryid)
JOIN pg_database AS d ON d.oid = s.dbid
ORDER BY seconds_total DESC, s.queryid
