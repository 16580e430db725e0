#!/usr/bin/env bash
# Records the replies of a real PostgreSQL of one major for the probes that
# have recordings of that major (tests/data/sql/<probe>/pg<MAJOR>/*.sql, or
# for 15 the files directly in <probe>/).
#
#   tests/data/sql/record-version.sh MAJOR [PROBE...]
#
# Starts a throwaway server of that major with tests/fixtures/pgcluster
# (MAJOR 13 to 18), creates the conditions the unit tests of those recordings
# rely on (below), runs capture.sh as the pg_monitor-only role over TCP, and
# stops the server again, also on failure. Without PROBE names every probe
# that has a pg<MAJOR> folder is captured; for 15, name the probes (15's
# folders hold the recordings of every probe, most made by hand, see README).
#
# Write the .sql files first: PGVIGIL_RECORD_SQL=1 build/ci/tests/pgvigil_probes_tests
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
major=${1:?usage: record-version.sh MAJOR [PROBE...]}
shift
probes="$*"
if [ "$major" = 15 ] && [ -z "$probes" ]; then
  echo "record-version.sh: for 15 name the probes to re-record" >&2
  exit 2
fi

dir=$(mktemp -d /tmp/pgvigil-record-XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
passfile=$(mktemp)
holders=()
cleanup() {
  local pid
  for pid in "${holders[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -f "$passfile"
  "$root/tests/fixtures/pgcluster" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

PGVIGIL_PG_MAJOR=$major "$root/tests/fixtures/pgcluster" start "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/cluster.env"

as_super() {  # database, then psql arguments; over the socket (trust)
  local database=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 \
      -h "$SOCKET_DIR" -p "$PRIMARY_PORT" -U postgres -d "$database" "$@"
  else
    /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 \
      -h "$SOCKET_DIR" -p "$PRIMARY_PORT" -U postgres -d "$database" "$@"
  fi
}

# The conditions (a subset of README.md's, what the versioned tests use).
# The fixture archives; README's server did not: archive_mode off needs a
# restart, after which shared_buffers is left pending one.
as_super postgres -c "ALTER SYSTEM SET archive_mode = off" >/dev/null
"$root/tests/fixtures/pgcluster" stop-server "$dir" primary >/dev/null
"$root/tests/fixtures/pgcluster" start-server "$dir" primary >/dev/null
as_super postgres >/dev/null <<'EOF'
ALTER SYSTEM SET shared_buffers = '256MB';
SELECT pg_reload_conf();
CREATE DATABASE appdb;
CREATE DATABASE limited CONNECTION LIMIT 5;
REVOKE CONNECT ON DATABASE limited FROM PUBLIC;
CHECKPOINT;
EOF
as_super appdb >/dev/null <<'EOF'
CREATE TABLE lockme (id int);
INSERT INTO lockme VALUES (1);
CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 10000) AS g;
DELETE FROM orders WHERE id % 3 = 0;
SELECT count(*) FROM orders;
EOF
# For indexes/: an unused index, an expression index, and churn, 80 % deleted
# and vacuumed, which the monitoring role may read (bloat with statistics);
# one index scan of orders_pkey.
as_super appdb >/dev/null <<'EOF'
CREATE INDEX orders_note ON orders (note);
CREATE INDEX orders_lower_note ON orders (lower(note));
CREATE TABLE churn (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);
INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, 100000) AS g;
ANALYZE;
DELETE FROM churn WHERE id % 5 <> 0;
VACUUM ANALYZE churn;
GRANT SELECT ON churn TO pgvigil_monitor;
SET enable_seqscan = off;
SELECT * FROM orders WHERE id = 5;
EOF
# Sessions left open until the capture is done, each reading its script
# from a pipe this shell keeps open: a transaction idle while it holds a
# lock, a session waiting behind it, a long query, an aborted transaction
# (the activity, connections and wait_events recordings rely on them).
hold_open() {  # application name, database, SQL
  local fifo=$dir/$1.fifo fd
  mkfifo "$fifo"
  PGAPPNAME=$1 as_super "$2" -v ON_ERROR_STOP=0 <"$fifo" >/dev/null 2>&1 &
  holders+=($!)
  exec {fd}>"$fifo"
  printf '%s\n' "$3" >&"$fd"
}
hold_open batch_job appdb "BEGIN; LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE;"
for _ in $(seq 1 50); do
  granted=$(as_super appdb -A -t -c "SELECT count(*) FROM pg_locks l JOIN pg_class c
    ON c.oid = l.relation WHERE c.relname = 'lockme' AND l.granted")
  [ "$granted" -ge 1 ] && break
  sleep 0.1
done
PGAPPNAME=web as_super appdb -c "SELECT count(*) FROM lockme" >/dev/null 2>&1 &
holders+=($!)
PGAPPNAME=report as_super postgres -c "SELECT pg_sleep(900)" >/dev/null 2>&1 &
holders+=($!)
hold_open broken appdb "BEGIN; SELECT 1/0;"
for _ in $(seq 1 50); do
  ready=$(as_super postgres -A -t -c "SELECT count(*) FROM pg_stat_activity
    WHERE application_name IN ('broken', 'report')
      AND state IN ('idle in transaction (aborted)', 'active')")
  [ "$ready" -ge 2 ] && break
  sleep 0.1
done
for _ in $(seq 1 50); do
  waiting=$(as_super postgres -A -t -c "SELECT count(*) FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND datname = 'appdb'")
  [ "$waiting" -ge 1 ] && break
  sleep 0.1
done
# Statistics of 13/14 travel through the collector: give it a moment.
as_super postgres -c "SELECT pg_sleep(0.6)" >/dev/null

printf '127.0.0.1:%s:*:pgvigil_monitor:%s\n' "$PRIMARY_PORT" "$(cat "$MONITOR_PASSWORD_FILE")" \
  >"$passfile"
chmod 600 "$passfile"
PGHOST=127.0.0.1 PGPORT=$PRIMARY_PORT PGUSER=pgvigil_monitor PGPASSFILE=$passfile \
  MAJOR=$major PROBES=$probes "$here/capture.sh"
echo "recorded PostgreSQL $(as_super postgres -A -t -c 'SHOW server_version')" \
  "for ${probes:-every probe with a pg$major folder}"
