#!/usr/bin/env bash
# End to end with real Prometheus: every dashboard panel query returns data,
# the compat rules evaluate, and (when alerts/pgvigil.rules.yml exists)
# PostgresReplicaMissing fires after the replica stops. See prometheus_stack.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
e2e_require_env
for tool in prometheus promtool; do
  command -v "$tool" >/dev/null || {
    echo "prometheus_stack: $tool is missing (Debian package prometheus)" >&2
    exit 1
  }
done

work=$(e2e_make_workdir prometheus_stack)
trap 'e2e_cleanup "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The Python side cleans up after itself; the trap above covers a hard kill.
rc=0
timeout --kill-after=20 240 python3 "$here/prometheus_stack.py" --work-dir "$work" "$@" || rc=$?
if ((rc != 0)); then
  for log in "$work"/pgvigil.log "$work"/prometheus.log; do
    [[ -f "$log" ]] || continue
    echo "--- tail of $log" >&2
    tail -n 30 "$log" >&2
  done
fi
exit "$rc"
