
SELECT pid, usename, application_name, datname, state,
       EXTRACT(EPOCH FROM now() - state_change) AS idle_seconds,
       EXTRACT(EPOCH FROM now() - xact_start) AS transaction_seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND state IN ('idle in transaction', 'idle in transaction (aborted)')
ORDER BY idle_seconds DESC NULLS LAST, pid
LIMIT 5
