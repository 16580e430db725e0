SELECT count(*) AS ready_files,
       EXTRACT(EPOCH FROM now() - min(modification)) AS oldest_ready_age_seconds
FROM pg_ls_archive_statusdir()
WHERE name LIKE '%.ready';
