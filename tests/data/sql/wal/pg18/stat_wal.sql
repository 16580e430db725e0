
SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_wal
