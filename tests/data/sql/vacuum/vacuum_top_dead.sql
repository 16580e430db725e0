
SELECT current_database() AS datname, schemaname, relname, n_live_tup, n_dead_tup,
       EXTRACT(EPOCH FROM last_vacuum) AS last_vacuum,
       EXTRACT(EPOCH FROM last_autovacuum) AS last_autovacuum,
       EXTRACT(EPOCH FROM last_analyze) AS last_analyze,
       EXTRACT(EPOCH FROM last_autoanalyze) AS last_autoanalyze,
       vacuum_count, autovacuum_count
FROM pg_stat_user_tables
ORDER BY n_dead_tup DESC NULLS LAST, schemaname, relname
LIMIT 20
