#!/usr/bin/env bash
# Runs every recorded probe statement (tests/data/sql/<probe>/*.sql) on a live
# PostgreSQL and saves the reply beside it: <name>.csv, or <name>.err
# ("SQLSTATE<tab>message") when the server refused it. The server must already
# hold the conditions the tests expect (see README.md here).
# Usage: PGHOST=127.0.0.1 PGPORT=55437 PGUSER=monitor tests/data/sql/capture.sh
#
# MAJOR=17 captures the recordings of that major instead, the
# <probe>/pg17/*.sql files (15's live directly in <probe>/). PROBES="wal io"
# limits the capture to those probes' folders. record-version.sh sets both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
major=${MAJOR:-15}
probes=${PROBES:-}
export PGAPPNAME=pgvigil  # the probes leave their own session out

run() {  # database, sql file, output base name
  local database=$1 sql=$2 base=$3 stderr
  stderr=$(mktemp)
  if psql -X -q --csv -P null='\N' -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
      -d "$database" -f "$sql" >"$base.csv" 2>"$stderr"; then
    rm -f "$base.err"
  else
    rm -f "$base.csv"
    sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): \(.*\)$/\1\t\2/p' "$stderr" | head -n 1 >"$base.err"
  fi
  rm -f "$stderr"
}

for dir in "$here"/*/; do
  probe=$(basename "$dir")
  if [ -n "$probes" ] && ! [[ " $probes " == *" $probe "* ]]; then
    continue
  fi
  if [ "$major" != 15 ]; then
    [ -d "${dir}pg$major" ] || continue
    [ "$probe" = checks ] && continue  # checks are recorded on 15 only
    dir="${dir}pg$major/"
  fi
  database=postgres
  case "$probe" in vacuum | indexes) database=appdb ;; esac
  if [ "$probe" = checks ]; then
    # A check's four statements run in one session, as the daemon sends them.
    for check in "$dir"*/; do
      script=$(mktemp)
      for name in check_begin check_timeout check check_commit; do
        cat "$check$name.sql"
        echo ";"
      done >"$script"
      run "$database" "$script" "${check}check"
      rm -f "$script"
    done
    continue
  fi
  for sql in "$dir"*.sql; do
    [ -e "$sql" ] || continue
    run "$database" "$sql" "${sql%.sql}"
  done
done
