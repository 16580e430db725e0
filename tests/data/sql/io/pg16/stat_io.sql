
SELECT backend_type, object, context,
       reads, reads * op_bytes AS read_bytes, read_time,
       writes, writes * op_bytes AS write_bytes, write_time,
       writebacks, writeback_time,
       extends, extends * op_bytes AS extend_bytes, extend_time,
       hits, evictions, reuses, fsyncs, fsync_time
FROM pg_stat_io
ORDER BY backend_type, object, context
