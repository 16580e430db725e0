SELECT r.pid,
       r.application_name,
       host(r.client_addr) AS client_addr,
       s.slot_name,
       s.slot_type,
       r.state,
       r.sync_state,
       pg_wal_lsn_diff(cur.lsn, '0/0') AS current_wal_lsn_bytes,
       pg_wal_lsn_diff(cur.lsn, r.sent_lsn) AS sent_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.write_lsn) AS write_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.flush_lsn) AS flush_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.replay_lsn) AS replay_lag_bytes,
       EXTRACT(EPOCH FROM r.write_lag) AS write_lag_seconds,
       EXTRACT(EPOCH FROM r.flush_lag) AS flush_lag_seconds,
       EXTRACT(EPOCH FROM r.replay_lag) AS replay_lag_seconds,
       EXTRACT(EPOCH FROM now() - r.reply_time) AS reply_age_seconds
FROM pg_stat_replication r
CROSS JOIN (SELECT pg_current_wal_lsn() AS lsn) cur
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
ORDER BY r.pid;
