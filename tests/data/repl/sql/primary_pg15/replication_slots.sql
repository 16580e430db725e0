SELECT s.slot_name,
       s.slot_type,
       s.database,
       s.active,
       pg_wal_lsn_diff(cur.lsn, s.restart_lsn) AS retained_bytes,
       age(s.xmin) AS xmin_age,
       age(s.catalog_xmin) AS catalog_xmin_age,
       s.wal_status,
       s.safe_wal_size,
       NULL::numeric AS inactive_seconds
FROM pg_replication_slots s
CROSS JOIN (SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END AS lsn) cur
ORDER BY s.slot_name;
