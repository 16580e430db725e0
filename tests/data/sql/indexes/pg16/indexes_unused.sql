
SELECT current_database() AS datname, s.schemaname, s.relname, s.indexrelname,
       pg_relation_size(s.indexrelid) AS size_bytes
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = s.indexrelid)
ORDER BY size_bytes DESC, s.schemaname, s.relname, s.indexrelname
LIMIT 10
