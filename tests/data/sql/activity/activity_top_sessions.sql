
SELECT pid, usename, application_name, datname, state,
       EXTRACT(EPOCH FROM now() - COALESCE(xact_start, query_start)) AS duration_seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state IS DISTINCT FROM 'idle'
  AND pid <> pg_backend_pid()
ORDER BY duration_seconds DESC NULLS LAST, pid
LIMIT 5
