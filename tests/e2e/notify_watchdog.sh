#!/usr/bin/env bash
# sd_notify protocol and watchdog behaviour of the real binary, checked by a
# fake service manager (notify_watchdog.py owns the NOTIFY_SOCKET).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "notify_watchdog: FAIL: python3 not found" >&2; exit 1; }
# The stall alone takes 20 s; 90 s bounds the whole run even if the daemon hangs.
exec timeout --kill-after=5 90 python3 "$here/notify_watchdog.py"
