
SELECT current_database() AS datname, s.schemaname, s.relname, s.indexrelname,
       s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       pg_relation_size(s.indexrelid) AS size_bytes,
       EXTRACT(EPOCH FROM s.last_idx_scan) AS last_idx_scan
FROM pg_stat_user_indexes AS s
ORDER BY size_bytes DESC, s.schemaname, s.relname, s.indexrelname
LIMIT 10
