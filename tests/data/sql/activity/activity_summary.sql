
SELECT
  COALESCE(max(EXTRACT(EPOCH FROM now() - state_change))
    FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')), 0)
    AS oldest_idle_in_transaction_seconds,
  COALESCE(max(EXTRACT(EPOCH FROM now() - query_start))
    FILTER (WHERE state = 'active' AND application_name IS DISTINCT FROM 'pgvigil'
            AND pid <> pg_backend_pid()), 0)
    AS longest_query_seconds,
  count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_lock,
  count(*) FILTER (WHERE wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0)
    AS blocked_sessions,
  COALESCE(max(EXTRACT(EPOCH FROM now() - COALESCE((SELECT min(l.waitstart) FROM pg_locks AS l WHERE l.pid = pg_stat_activity.pid AND NOT l.granted), query_start)))
    FILTER (WHERE wait_event_type = 'Lock'), 0)
    AS longest_lock_wait_seconds
FROM pg_stat_activity
WHERE backend_type = 'client backend'
