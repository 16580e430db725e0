SELECT current_setting('archive_mode') AS archive_mode,
       current_setting('archive_command') <> '' AS archive_command_set,
       COALESCE(current_setting('archive_library', true), '') <> '' AS archive_library_set,
       pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                            THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                            ELSE pg_current_wal_lsn() END, '0/0') AS current_lsn_bytes;
