SELECT
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0') AS receive_lsn_bytes,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS replay_lsn_bytes,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS last_replay_seconds,
       pg_is_wal_replay_paused() AS replay_paused;
