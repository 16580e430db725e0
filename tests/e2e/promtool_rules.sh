#!/usr/bin/env bash
# The Prometheus export of the alert rules:
#  1. alerts/pgvigil.rules.yml is exactly what `pgvigil rules` prints (it is
#     generated from the default configuration and committed);
#  2. `promtool check rules --lint=all --lint-fatal` accepts it; the rules
#     generated from a configuration with per-target overrides and checks are
#     valid too;
#  3. `promtool test rules alerts/tests/*.yml` passes, and every alert in the
#     file has a unit test there.
# Needs promtool (Debian package prometheus) and PGVIGIL_BINARY.
set -euo pipefail

source_dir=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
binary=${PGVIGIL_BINARY:?PGVIGIL_BINARY must name the pgvigil binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log() { echo "promtool_rules: $*"; }
fail() {
  echo "promtool_rules: FAIL: $*" >&2
  exit 1
}

command -v promtool >/dev/null || fail "promtool not found (apt-get install --no-install-recommends prometheus)"
committed=$source_dir/alerts/pgvigil.rules.yml
[[ -f $committed ]] || fail "$committed is missing"

log "comparing $committed with \`pgvigil rules\`"
"$binary" rules >"$work/generated.yml"
if ! diff -u "$committed" "$work/generated.yml" >"$work/diff.txt"; then
  cat "$work/diff.txt" >&2
  fail "alerts/pgvigil.rules.yml is out of date: run \`pgvigil rules > alerts/pgvigil.rules.yml\` and commit it"
fi

log "promtool check rules --lint=all on the committed file"
promtool check rules --lint=all --lint-fatal "$committed" || fail "promtool check rules rejected $committed"

# Overrides: a target with its own thresholds, one with a rule disabled, and
# custom checks, so the per-target selectors are checked by promtool too.
cat >"$work/pgvigil.toml" <<'EOF'
[server]
listen = ["127.0.0.1:0"]

[alerting.rules.PostgresReplicationLag]
warning = "30s"

[[target]]
name = "primary.db-1"
host = "127.0.0.1"

[target.rules.PostgresLongRunningQuery]
threshold = "30m"
for = "1m"

[[target.check]]
name = "orders_recent"
sql = "SELECT 1"
expect = "> 0"
for = "2m"
severity = "critical"

[[target]]
name = "replica"
host = "127.0.0.1"

[target.rules.PostgresLongRunningQuery]
enabled = false
EOF
"$binary" rules -c "$work/pgvigil.toml" >"$work/overrides.yml" || fail "pgvigil rules -c failed"
# Not --lint-fatal: a target with its own threshold gets a second rule of the
# same alert and severity, which the duplicate-rules lint reports (on purpose:
# the alert's labels must stay those the daemon sends).
promtool check rules --lint=all "$work/overrides.yml" || fail "promtool check rules rejected the rules of a configuration with overrides"
grep -q 'pg_stat_activity_longest_query_seconds{target=~"primary\\\\.db-1"} > 1800' "$work/overrides.yml" ||
  fail "the per-target LongRunningQuery threshold is not in the generated rules"
grep -q 'pg_stat_activity_longest_query_seconds{target!~"primary\\\\.db-1|replica"} > 300' "$work/overrides.yml" ||
  fail "the global LongRunningQuery rule does not exclude the targets with their own"
grep -q 'pg_replication_lag_seconds > 30' "$work/overrides.yml" ||
  fail "the global ReplicationLag override is not in the generated rules"
grep -q 'pgvigil_check_ok{check="orders_recent",target="primary.db-1"} == 0' "$work/overrides.yml" ||
  fail "the custom check has no rule of its own"

log "every alert has a promtool unit test"
missing=0
while read -r name; do
  if ! grep -qs "alertname: $name\$" "$source_dir"/alerts/tests/*.yml; then
    echo "promtool_rules: no test in alerts/tests for $name" >&2
    missing=1
  fi
done < <(sed -n 's/^ *- alert: //p' "$committed" | sort -u)
((missing == 0)) || fail "alerts without unit tests"

log "promtool test rules alerts/tests/*.yml"
(cd "$source_dir" && promtool test rules alerts/tests/*.yml) || fail "promtool unit tests failed"
log "PASS"
