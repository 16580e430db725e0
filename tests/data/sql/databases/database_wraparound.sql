
SELECT datname, age(datfrozenxid) AS age_datfrozenxid, mxid_age(datminmxid) AS age_datminmxid
FROM pg_database
WHERE TRUE
ORDER BY datname
