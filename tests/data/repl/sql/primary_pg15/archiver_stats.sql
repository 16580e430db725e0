SELECT archived_count,
       failed_count,
       last_archived_wal,
       last_archived_time,
       EXTRACT(EPOCH FROM last_archived_time) AS last_archived_time_seconds,
       EXTRACT(EPOCH FROM now() - last_archived_time) AS last_archive_age,
       last_failed_wal,
       last_failed_time,
       EXTRACT(EPOCH FROM last_failed_time) AS last_failed_time_seconds
FROM pg_stat_archiver;
