#!/usr/bin/env bash
# End to end: real Prometheus scrapes pgvigil through TLS (with a client
# certificate) and basic auth; see web_security.py for every check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
e2e_require_env
for tool in prometheus openssl python3; do
  command -v "$tool" >/dev/null || {
    echo "web_security: $tool is missing (Debian packages prometheus, openssl, python3)" >&2
    exit 1
  }
done

work=$(e2e_make_workdir web_security)
trap 'e2e_cleanup "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout --kill-after=20 180 python3 "$here/web_security.py" --work-dir "$work" "$@" || rc=$?
if ((rc != 0)); then
  for log in "$work"/pgvigil.log "$work"/prometheus.log; do
    [[ -f "$log" ]] || continue
    echo "--- tail of $log" >&2
    tail -n 30 "$log" >&2
  done
fi
exit "$rc"
