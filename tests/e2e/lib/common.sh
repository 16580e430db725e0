# Shared shell helpers for tests/e2e/*.sh; source it. Python helpers are in stack.py.
#
#   e2e_require_env            checks PGVIGIL_BINARY / PGVIGIL_FIXTURE, sets E2E_ROOT
#   e2e_make_workdir NAME      prints a new work directory (mode 711) under TMPDIR
#   e2e_cleanup DIR            stops what DIR/pids lists and the fixture in DIR/cluster,
#                              then removes DIR; safe to call twice (use it in a trap)

e2e_require_env() {
  E2E_ROOT=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)}
  export PGVIGIL_SOURCE_DIR=$E2E_ROOT
  : "${PGVIGIL_FIXTURE:=$E2E_ROOT/tests/fixtures/pgcluster}"
  export PGVIGIL_FIXTURE
  if [[ -z "${PGVIGIL_BINARY:-}" || ! -x "$PGVIGIL_BINARY" ]]; then
    echo "e2e: PGVIGIL_BINARY must name the built pgvigil daemon (got '${PGVIGIL_BINARY:-}')" >&2
    return 1
  fi
}

e2e_make_workdir() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pgvigil-e2e-$1.XXXXXX")
  # The servers run as the postgres OS user, which must reach the cluster inside.
  chmod 711 "$dir"
  echo "$dir"
}

# Stops only the processes this test recorded (their pids, one by one), then
# the fixture; every wait is bounded.
e2e_cleanup() {
  local dir=$1 pid
  [[ -n "$dir" && -d "$dir" ]] || return 0
  if [[ -f "$dir/pids" ]]; then
    while read -r pid; do
      [[ "$pid" =~ ^[0-9]+$ ]] || continue
      kill -0 "$pid" 2>/dev/null || continue
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    done <"$dir/pids"
  fi
  if [[ -d "$dir/cluster" ]]; then
    timeout 60 "$PGVIGIL_FIXTURE" stop "$dir/cluster" >/dev/null 2>&1 || true
  fi
  rm -rf -- "$dir"
}
