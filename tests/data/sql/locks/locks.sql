
SELECT d.datname, m.mode, count(l.mode) AS count
FROM pg_database AS d
CROSS JOIN (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'),
                   ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'),
                   ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS m(mode)
LEFT JOIN pg_locks AS l ON l.database = d.oid AND lower(l.mode) = m.mode
WHERE TRUE
GROUP BY d.datname, m.mode
ORDER BY d.datname, m.mode
