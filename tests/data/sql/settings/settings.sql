
SELECT name, setting, unit, vartype
FROM pg_settings
WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'max_wal_size',
               'wal_keep_size', 'wal_keep_segments', 'max_slot_wal_keep_size', 'archive_mode',
               'autovacuum', 'autovacuum_freeze_max_age', 'autovacuum_multixact_freeze_max_age',
               'data_checksums', 'shared_buffers', 'work_mem', 'checkpoint_timeout', 'fsync',
               'full_page_writes', 'max_prepared_transactions', 'max_locks_per_transaction')
ORDER BY name
