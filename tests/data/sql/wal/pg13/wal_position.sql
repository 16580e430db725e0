
SELECT CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END AS current_lsn_bytes,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline_id
