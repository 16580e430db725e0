
SELECT datname,
       CASE WHEN has_database_privilege(oid, 'CONNECT')
                 OR pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN pg_database_size(oid) END AS size_bytes,
       datconnlimit AS connection_limit
FROM pg_database
WHERE datname NOT IN ('template0', 'template1') AND TRUE
ORDER BY datname
