#!/usr/bin/env bash
# The Kubernetes objects of deploy/kubernetes: consistent with each other,
# the config accepted by `pgvigil check-config`, the rules by promtool (see
# kubernetes_objects.py). Then the same checks on the HA layout
# deploy/kubernetes/README.md describes (two StatefulSets, pgvigil-a and
# pgvigil-b, made with the README's own sed), and on broken copies, which
# must fail with the expected problem, so the checker is known to catch them.
# Needs PGVIGIL_BINARY, promtool (Debian prometheus) and PyYAML (python3-yaml).
set -euo pipefail

root=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
binary=${PGVIGIL_BINARY:?PGVIGIL_BINARY must name the pgvigil binary}
check=$root/tests/e2e/kubernetes_objects.py
deploy=$root/deploy/kubernetes
work=$(mktemp -d "${TMPDIR:-/tmp}/kubernetes_objects.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

fail() {
  echo "kubernetes_objects: FAIL: $*" >&2
  exit 1
}

command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus)"
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML is missing (Debian package python3-yaml)"

echo "== deploy/kubernetes"
timeout 300 python3 "$check" --binary "$binary" "$deploy" || fail "deploy/kubernetes has problems (see above)"

echo "== the HA pair of deploy/kubernetes/README.md"
# The README's recipe, word for word: the test fails when the two drift apart.
# shellcheck disable=SC2016 # $half expands in the eval below, as in the README's loop
ha_sed='sed -e "s/^  name: pgvigil$/  name: pgvigil-$half/" -e "s/instance: pgvigil$/instance: pgvigil-$half/"'
grep -qF -- "$ha_sed" "$deploy/README.md" || fail "deploy/kubernetes/README.md no longer holds the HA recipe: $ha_sed"
mkdir "$work/ha"
cp "$deploy"/*.yaml "$work/ha/"
rm "$work/ha/statefulset.yaml"
for half in a b; do
  eval "$ha_sed" '"$deploy/statefulset.yaml"' >"$work/ha/statefulset-$half.yaml"
done
timeout 300 python3 "$check" --binary "$binary" "$work/ha" >"$work/ha.out" || {
  cat "$work/ha.out"
  fail "the HA layout has problems"
}
cat "$work/ha.out"
grep -q "StatefulSet pgvigil-a, pgvigil-b;" "$work/ha.out" || fail "the recipe did not make StatefulSets pgvigil-a and pgvigil-b"

# A broken copy: FILE, sed expression, the problem code that must be reported.
expect_problem() {
  local file=$1 expression=$2 code=$3 copy=$work/broken
  rm -rf "$copy" && mkdir "$copy" && cp "$deploy"/*.yaml "$copy/"
  sed -i -e "$expression" "$copy/$file"
  cmp -s "$deploy/$file" "$copy/$file" && fail "sed '$expression' changed nothing in $file"
  if timeout 300 python3 "$check" --binary "$binary" "$copy" >"$work/broken.out" 2>&1; then
    fail "a copy with '$expression' in $file passed"
  fi
  grep -q "\[$code\]" "$work/broken.out" || {
    cat "$work/broken.out"
    fail "a copy with '$expression' in $file did not report [$code]"
  }
  echo "   $file with '$expression': [$code] reported"
}
echo "== broken copies must fail"
expect_problem statefulset.yaml 's/serviceName: pgvigil-headless/serviceName: pgvigil/' service-name
expect_problem statefulset.yaml 's/"--shard", "hostname"/"--shard", "0"/' args
expect_problem statefulset.yaml 's/replicas: 3/replicas: 4/' replicas
expect_problem statefulset.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' security
expect_problem statefulset.yaml 's/path: \/ready/path: \/readyz/' probe
expect_problem statefulset.yaml 's/mountPath: \/var\/lib\/pgvigil/mountPath: \/var\/lib\/state/' state
expect_problem statefulset.yaml 's/path: password$/path: pgpass/' password-file
expect_problem service.yaml 's/app.kubernetes.io\/component: metrics/app.kubernetes.io\/component: web/' selector
expect_problem servicemonitor.yaml 's/- port: metrics/- port: http/' port
expect_problem configmap.yaml 's/listen = \["0.0.0.0:9816"\]/listen = ["127.0.0.1:9816"]/' listen
expect_problem configmap.yaml 's/sd\/\*\.json/sd\/*.yaml/' file-sd
expect_problem configmap.yaml 's/^    shards = 3/    shards = 3\n    bogus_key = 1/' check-config
expect_problem prometheusrule.yaml '0,/for: 30s/s//for: 45s/' stale
expect_problem prometheusrule.yaml 's/(pg_up == 0) \* ignoring/((pg_up == 0) * ignoring/' promtool
echo "kubernetes_objects: PASS"
