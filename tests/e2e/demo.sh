#!/usr/bin/env bash
# scripts/demo without a terminal: follows its "kill the primary" instruction,
# expects PostgresDown with evidence at the demo's Alertmanager, then stops the
# demo as Ctrl-C does and checks that nothing is left. See demo.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
e2e_require_env

work=$(e2e_make_workdir demo)
trap 'e2e_cleanup "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout --kill-after=20 240 python3 "$here/demo.py" --work-dir "$work" "$@" || rc=$?
if ((rc != 0)) && [[ -f "$work/demo.out" ]]; then
  echo "--- tail of the demo's output" >&2
  tail -n 40 "$work/demo.out" >&2
fi
exit "$rc"
