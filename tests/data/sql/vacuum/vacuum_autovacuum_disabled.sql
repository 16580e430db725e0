
SELECT current_database() AS datname, n.nspname AS schemaname, c.relname
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_options_to_table(c.reloptions) AS o
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND o.option_name = 'autovacuum_enabled' AND NOT o.option_value::boolean
ORDER BY n.nspname, c.relname
LIMIT 1000
