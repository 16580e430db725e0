
SELECT backend_type, object, context,
       reads, read_bytes, read_time,
       writes, write_bytes, write_time,
       writebacks, writeback_time,
       extends, extend_bytes, extend_time,
       hits, evictions, reuses, fsyncs, fsync_time
FROM pg_stat_io
ORDER BY backend_type, object, context
