
WITH blockers AS (
  SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid
  FROM pg_stat_activity WHERE wait_event_type = 'Lock')
SELECT a.pid, a.datname, a.usename, a.application_name, a.state,
       a.wait_event_type, a.wait_event, a.pid = pg_backend_pid() AS own,
       EXTRACT(EPOCH FROM now() - a.xact_start) AS xact_seconds,
       EXTRACT(EPOCH FROM now() - a.query_start) AS query_seconds,
       EXTRACT(EPOCH FROM now() - a.state_change) AS state_seconds,
       CASE WHEN a.wait_event_type = 'Lock'
            THEN EXTRACT(EPOCH FROM now() - COALESCE((SELECT min(l.waitstart) FROM pg_locks AS l WHERE l.pid = a.pid AND NOT l.granted), a.query_start)) END AS lock_wait_seconds,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocking_pids,
       CASE WHEN a.state IS DISTINCT FROM 'idle' OR a.pid IN (SELECT pid FROM blockers)
            THEN left(a.query, 200) END AS query
FROM pg_stat_activity AS a
WHERE a.backend_type = 'client backend'
