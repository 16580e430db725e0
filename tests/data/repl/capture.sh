#!/usr/bin/env bash
# Records the probes' result rows from a live server as fixtures.
#   capture.sh PORT SQL_DIR OUT_DIR [QUERY_NAME...]
# Runs each SQL_DIR/NAME.sql (the probes' exact statements, checked by the unit
# tests) as a pg_monitor-only role and writes OUT_DIR/NAME.tsv: a header line,
# tab-separated cells, \N for NULL. A failed statement leaves no .tsv.
set -euo pipefail
port=$1 sql_dir=$2 out_dir=$3
shift 3
mkdir -p "$out_dir"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$sql_dir"/*.sql; do names+=("$(basename "$f" .sql)"); done
fi
for name in "${names[@]}"; do
  psql -X -A -F $'\t' -P null='\N' -P footer=off -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U "${PGVIGIL_MONITOR_USER:-pgvigil_monitor}" -d postgres \
    -f "$sql_dir/$name.sql" >"$out_dir/$name.tsv"
done
