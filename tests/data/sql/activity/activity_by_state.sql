
WITH states(state) AS (
  VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
         ('fastpath function call'), ('disabled')),
clients AS (
  SELECT datname, state, xact_start FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND datname IS NOT NULL)
SELECT d.datname, s.state, count(c.state) AS count,
       COALESCE(max(EXTRACT(EPOCH FROM now() - c.xact_start)), 0) AS max_tx_duration
FROM (SELECT DISTINCT datname FROM clients) AS d
CROSS JOIN states AS s
LEFT JOIN clients AS c ON c.datname = d.datname AND c.state = s.state
GROUP BY d.datname, s.state
ORDER BY d.datname, s.state
