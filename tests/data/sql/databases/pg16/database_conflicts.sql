
SELECT datname, confl_tablespace, confl_lock, confl_snapshot, confl_bufferpin, confl_deadlock,
       confl_active_logicalslot AS confl_active_logicalslot
FROM pg_stat_database_conflicts
WHERE datname NOT IN ('template0', 'template1') AND TRUE
ORDER BY datname
