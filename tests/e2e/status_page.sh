#!/usr/bin/env bash
# The status page in a real headless browser (chromium): it renders, and after
# the primary is killed it shows the target down with its reason and the
# firing alert; a screenshot is taken. See status_page.py.
#
#   tests/e2e/status_page.sh [--screenshot FILE]   (docs/status-page.png is one run)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
e2e_require_env
command -v chromium >/dev/null || {
  echo "status_page: chromium is missing (Debian package chromium)" >&2
  exit 1
}

work=$(e2e_make_workdir status_page)
trap 'e2e_cleanup "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout --kill-after=20 180 python3 "$here/status_page.py" --work-dir "$work" "$@" || rc=$?
if ((rc != 0)) && [[ -f "$work/pgvigil.log" ]]; then
  echo "--- tail of $work/pgvigil.log" >&2
  tail -n 30 "$work/pgvigil.log" >&2
fi
exit "$rc"
