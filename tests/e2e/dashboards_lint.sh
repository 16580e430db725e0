#!/usr/bin/env bash
# Dashboard conventions: every dashboards/*.json must pass dashboards_lint.py,
# and tests/data/dashboards/broken.json (one broken convention per panel) must
# fail with every expected problem code, which proves the checker catches them.
set -euo pipefail

root=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
lint=$root/tests/e2e/dashboards_lint.py
broken=$root/tests/data/dashboards/broken.json
out=$(mktemp "${TMPDIR:-/tmp}/dashboards_lint.XXXXXX")
trap 'rm -f -- "$out"' EXIT

fail() {
  echo "dashboards_lint: FAIL: $*" >&2
  exit 1
}

command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus)"

echo "== the shipped dashboards must pass"
timeout 120 python3 "$lint" --source-dir "$root" "$root"/dashboards/*.json ||
  fail "the shipped dashboards break a convention (see above)"

echo "== the deliberately broken dashboard must fail"
# With the real dashboards so the duplicate uid is seen too.
set +e
timeout 120 python3 "$lint" --source-dir "$root" "$root"/dashboards/*.json "$broken" >"$out" 2>&1
rc=$?
set -e
cat "$out"
((rc == 1)) || fail "expected exit status 1 for $broken, got $rc"
expected=(duplicate-uid schema-version datasource-variable variable-missing variable-multi
  inputs hardcoded-datasource no-description no-unit no-expr rate-interval promql-syntax
  variable-match target-filter job-filter runbook-link alert-link alert-threshold duplicate-id)
for code in "${expected[@]}"; do
  grep -q -- "^$broken.*\[$code\]" "$out" || fail "the checker did not report [$code] for $broken"
done
# The unknown function is valid structurally; only Prometheus's parser rejects it.
grep -q "panel 'Unknown function'.*\[promql-syntax\]" "$out" ||
  fail "promtool did not reject the unknown function in $broken"
# Nothing of the shipped dashboards may be blamed.
if grep "^$root/dashboards/.*\[" "$out" | grep -v "\[duplicate-uid\]" | grep -q .; then
  fail "the checker reported problems in the shipped dashboards while checking $broken"
fi

echo "== a file that is not JSON must fail"
printf '{ "uid": ' >"$out"
if timeout 60 python3 "$lint" --source-dir "$root" --no-promtool "$out" >/dev/null 2>&1; then
  fail "truncated JSON passed"
fi
echo "dashboards_lint: PASS"
