
SELECT count(*) AS segments, sum(size) AS size_bytes
FROM pg_ls_waldir()
WHERE name ~ '^[0-9A-F]{24}$'
