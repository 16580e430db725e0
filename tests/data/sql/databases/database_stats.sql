
SELECT s.datid, s.datname, s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read,
       s.blks_hit, s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, s.checksum_failures AS checksum_failures,
       s.blk_read_time, s.blk_write_time, extract(epoch FROM s.stats_reset) AS stats_reset,
       s.session_time AS session_time, s.active_time AS active_time
FROM pg_stat_database AS s
JOIN pg_database AS d ON d.oid = s.datid
WHERE d.datname NOT IN ('template0', 'template1') AND TRUE
ORDER BY s.datname
