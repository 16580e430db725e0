#!/usr/bin/env bash
# Static checks of systemd/pgvigil.service: `systemd-analyze verify` accepts it,
# and `systemd-analyze security` rates its exposure at 1.5 or lower.
set -euo pipefail

source_dir=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
unit=$source_dir/systemd/pgvigil.service
binary=${PGVIGIL_BINARY:-}
max_exposure_tenths=15   # the target: overall exposure <= 1.5

fail() {
  echo "systemd_unit: FAIL: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (scripts/install-deps installs systemd)"
[[ -f "$unit" ]] || fail "no unit at $unit"
[[ -n "$binary" && -x "$binary" ]] || fail "PGVIGIL_BINARY must name the built pgvigil binary"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# verify insists that ExecStart's binary exists; the packaged path does not on a
# build machine, so check a copy that runs the freshly built one instead.
grep -q '^ExecStart=/usr/bin/pgvigil ' "$unit" || fail "ExecStart does not run /usr/bin/pgvigil"
sed "s#^ExecStart=/usr/bin/pgvigil #ExecStart=$binary #" "$unit" >"$work/pgvigil.service"
# --man=no: the man page is installed with the package, not on the build machine.
if ! timeout 60 systemd-analyze verify --man=no "$work/pgvigil.service" >"$work/verify.log" 2>&1; then
  cat "$work/verify.log" >&2
  fail "systemd-analyze verify rejected the unit"
fi
# verify exits 0 on some warnings too; any line naming the unit is a complaint.
if grep -q 'pgvigil.service' "$work/verify.log"; then
  cat "$work/verify.log" >&2
  fail "systemd-analyze verify warned about the unit"
fi
echo "systemd_unit: verify ok"

# The settings that make the score must be present (a regression would show in
# the score too, but this names the culprit).
for setting in Type=notify NotifyAccess=main WatchdogSec= ExecReload= Restart=on-failure \
  User=pgvigil Group=pgvigil StateDirectory=pgvigil ConfigurationDirectory=pgvigil \
  NoNewPrivileges=yes ProtectSystem=strict CapabilityBoundingSet= UMask=0077 \
  SystemCallFilter=@system-service MemoryDenyWriteExecute=yes PrivateUsers=yes; do
  grep -q "^$setting" "$unit" || fail "unit lacks $setting"
done

# systemd 252 prints "Overall exposure level for UNIT: 1.1 OK" and compares
# --threshold against the exposure times ten.
if ! timeout 60 systemd-analyze security --offline=true --threshold=$max_exposure_tenths \
  "$work/pgvigil.service" >"$work/security.log" 2>&1; then
  tail -n 40 "$work/security.log" >&2
  fail "exposure above 1.5"
fi
overall=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.log")
[[ -n "$overall" ]] || fail "could not read the overall exposure from systemd-analyze security"
awk -v score="$overall" 'BEGIN { exit !(score <= 1.5) }' || fail "exposure $overall > 1.5"
echo "systemd_unit: exposure $overall (<= 1.5)"

# The threshold check itself must bite: a unit without hardening fails it.
printf '[Service]\nExecStart=%s version\n' "$binary" >"$work/unhardened.service"
if timeout 60 systemd-analyze security --offline=true --threshold=$max_exposure_tenths \
  "$work/unhardened.service" >/dev/null 2>&1; then
  fail "an unhardened unit passed the threshold: the check is not working"
fi
echo "systemd_unit: ok"
