
SELECT w.pid, w.usename, w.application_name,
       EXTRACT(EPOCH FROM now() - w.query_start) AS waiting_seconds,
       left(w.query, 200) AS query,
       blocker.pid AS blocking_pid, b.usename AS blocking_usename, b.state AS blocking_state,
       left(b.query, 200) AS blocking_query
FROM pg_stat_activity AS w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
LEFT JOIN pg_stat_activity AS b ON b.pid = blocker.pid
WHERE w.wait_event_type = 'Lock'
ORDER BY waiting_seconds DESC NULLS LAST, w.pid, blocker.pid
LIMIT 50
