#!/usr/bin/env bash
# pgvigil's shards keep the same targets as Prometheus' hashmod relabelling
# over the same file_sd inventory. See shard_hashmod.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
e2e_require_env
command -v prometheus >/dev/null || {
  echo "shard_hashmod: prometheus is missing (Debian package prometheus)" >&2
  exit 1
}

work=$(e2e_make_workdir shard_hashmod)
trap 'e2e_cleanup "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout --kill-after=20 180 python3 "$here/shard_hashmod.py" --work-dir "$work" || rc=$?
if ((rc != 0)) && [[ -f "$work/prometheus.log" ]]; then
  echo "--- tail of $work/prometheus.log" >&2
  tail -n 30 "$work/prometheus.log" >&2
fi
exit "$rc"
