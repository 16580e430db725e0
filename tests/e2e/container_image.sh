#!/usr/bin/env bash
# Builds the container image with scripts/build-image (buildah, vfs storage,
# chroot isolation, a debootstrap base) and runs the image's own pgvigil:
#
#   - the image config: non-root USER, the two volumes, port 9816, HEALTHCHECK
#     on /health, ENTRYPOINT + CMD; no systemd pulled in; the export loads
#     as a docker archive naming the tag;
#   - `buildah run` as the image's user and as uid 65532 (the Kubernetes
#     objects' runAsUser): pgvigil --version;
#   - as docker run --read-only would: the image's root mounted read-only (even
#     root cannot write it, /tmp included), /etc/pgvigil a read-only volume,
#     /var/lib/pgvigil a writable one, a network namespace of its own;
#     `pgvigil check-config` on a config listening on 0.0.0.0:9816, then the
#     ENTRYPOINT + CMD as the image's user, /health from outside, the
#     HEALTHCHECK's own command inside, SIGTERM and a clean exit.
#
# Opt-in: it runs only with PGVIGIL_IMAGE_TEST=1 and exits 77 (ctest: skipped)
# otherwise; it needs root and the network (debootstrap and the Dockerfile's
# apt-get fetch Debian packages). The base is cached in build/image/cache, the
# .deb is the one e2e.deb_package builds in build/deb-package (rebuilt only if
# stale); the image storage is a temporary directory under build/image,
# removed at the end.
set -euo pipefail

source_dir=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

log() { echo "container_image: $*"; }
fail() {
  echo "container_image: FAIL: $*" >&2
  exit 1
}

if [[ "${PGVIGIL_IMAGE_TEST:-0}" != 1 ]]; then
  log "skipped: set PGVIGIL_IMAGE_TEST=1 to build and run the image (several minutes, needs root and the Debian mirror)"
  exit 77
fi
[[ $EUID -eq 0 ]] || fail "must run as root (debootstrap, buildah vfs storage, mount namespaces)"
for tool in unshare nsenter chroot curl python3 ip findmnt timeout tar; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

version=$(sed -n 's/^project(pgvigil VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
tag="pgvigil:$version"
port=9816
mkdir -p "$source_dir/build/image"
work=$(mktemp -d "$source_dir/build/image/test.XXXXXX")
storage=$work/storage
container=""
runner_pid=""
pid=""

buildah_cmd=(buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs)
buildah_() { "${buildah_cmd[@]}" "$@"; }

cleanup() {
  local status=$?
  if [[ -n "$runner_pid" ]]; then
    if [[ -n "$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    kill -KILL "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
  fi
  if [[ -n "$container" ]]; then
    buildah_ umount "$container" >/dev/null 2>&1 || true
    buildah_ rm "$container" >/dev/null 2>&1 || true
  fi
  # The test's own mounts live in namespaces that died with their processes;
  # anything still mounted below $work would make rm -rf reach outside it.
  local mounts
  mounts=$(findmnt -rn -o TARGET | grep -F "$work" | sort -r || true)
  if [[ -n "$mounts" ]]; then
    while read -r target; do umount -l "$target" || true; done <<<"$mounts"
  fi
  if findmnt -rn -o TARGET | grep -qF "$work"; then
    echo "container_image: cleanup: mounts left below $work; not removing it" >&2
  else
    rm -rf --one-file-system "$work"
  fi
  if ((status != 0)); then
    for file in "$work"/*.log; do
      [[ -f "$file" ]] || continue
      echo "--- $(basename "$file") ---" >&2
      tail -n 30 "$file" >&2
    done
  fi
  exit "$status"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------------
started=$SECONDS
bash "$source_dir/scripts/build-image" --storage "$storage" --export "$work/pgvigil.docker.tar" \
  >"$work/build-image.log" 2>&1 || fail "scripts/build-image failed"
grep '^build-image: built' "$work/build-image.log" || fail "scripts/build-image did not report the image"
build_seconds=$((SECONDS - started))
log "image built in ${build_seconds}s"

# The export is a docker archive naming the tag (docker load -i takes it).
tar -xOf "$work/pgvigil.docker.tar" manifest.json >"$work/manifest.json" ||
  fail "the export has no manifest.json"
python3 - "$work/manifest.json" "$tag" <<'EOF' || fail "the export does not name $tag"
import json, sys
manifest = json.load(open(sys.argv[1]))
tags = [t for entry in manifest for t in (entry.get("RepoTags") or [])]
if not any(t.endswith(sys.argv[2]) for t in tags):
    sys.exit(f"RepoTags: {tags}")
EOF
rm -f "$work/pgvigil.docker.tar"

# --- the image config ---------------------------------------------------------------
buildah_ inspect --type image "$tag" >"$work/inspect.json" || fail "buildah inspect $tag failed"
python3 - "$work/inspect.json" "$work" "$port" <<'EOF' || fail "the image config is not what deploy/Dockerfile says"
import json, sys
inspect, work, port = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
config = (inspect.get("Docker") or {}).get("config") or {}
problems = []
if config.get("User") != "pgvigil":
    problems.append(f"User is {config.get('User')!r}, want 'pgvigil'")
if set(config.get("Volumes") or {}) != {"/etc/pgvigil", "/var/lib/pgvigil"}:
    problems.append(f"Volumes are {sorted(config.get('Volumes') or {})}")
if f"{port}/tcp" not in (config.get("ExposedPorts") or {}):
    problems.append(f"ExposedPorts are {sorted(config.get('ExposedPorts') or {})}")
test = (config.get("Healthcheck") or {}).get("Test") or []
if len(test) != 2 or test[0] != "CMD-SHELL" or f"127.0.0.1:{port}/health" not in test[1]:
    problems.append(f"Healthcheck is {test}")
if config.get("Entrypoint") != ["/usr/bin/pgvigil"]:
    problems.append(f"Entrypoint is {config.get('Entrypoint')}")
command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
if command[1:2] != ["run"]:
    problems.append(f"Entrypoint + Cmd is {command}")
if problems:
    sys.exit("\n".join(problems))
with open(f"{work}/healthcheck", "w") as f:
    f.write(test[1])
with open(f"{work}/command", "w") as f:
    f.write("\n".join(command) + "\n")
env = [e for e in config.get("Env") or [] if e.startswith("PATH=")]
with open(f"{work}/path", "w") as f:
    f.write(env[0] if env else "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
EOF
healthcheck=$(cat "$work/healthcheck")
mapfile -t command <"$work/command"
image_path=$(cat "$work/path")
log "config: USER pgvigil, volumes, port $port, HEALTHCHECK '$healthcheck', command '${command[*]}'"

# --- the image's files ------------------------------------------------------------------
container=$(buildah_ from --pull=never "$tag")
root=$(buildah_ mount "$container")
[[ -d "$root/usr" ]] || fail "buildah mount gave $root, which is no root file system"
IFS=: read -r _ _ uid gid _ home shell < <(grep '^pgvigil:' "$root/etc/passwd") ||
  fail "the image has no pgvigil user"
[[ "$uid" =~ ^[0-9]+$ && "$uid" != 0 && "$gid" != 0 ]] || fail "the pgvigil user is uid $uid gid $gid"
[[ "$shell" == */nologin ]] || fail "the pgvigil user has shell $shell"
[[ -x "$root/usr/bin/pgvigil" ]] || fail "no /usr/bin/pgvigil in the image"
[[ ! -e "$root/lib/systemd/systemd" ]] || fail "the image has systemd installed (apt chose it for 'systemd | adduser')"
[[ "$(stat -c '%u:%g %a' "$root/etc/pgvigil")" == "0:$gid 750" ]] ||
  fail "/etc/pgvigil is $(stat -c '%u:%g %a' "$root/etc/pgvigil"), want 0:$gid 750"
[[ "$(stat -c '%u %a' "$root/var/lib/pgvigil")" == "$uid 750" ]] ||
  fail "/var/lib/pgvigil is $(stat -c '%u %a' "$root/var/lib/pgvigil"), want $uid 750"
log "pgvigil user is uid $uid gid $gid (home $home)"

# --- buildah run: the image's user, and the Kubernetes objects' uid ---------------------
out=$(timeout 120 "${buildah_cmd[@]}" run --isolation chroot "$container" -- id -u 2>&1) || fail "buildah run id -u: $out"
[[ "$out" == "$uid" ]] || fail "buildah run runs as uid '$out', want the image's USER ($uid)"
for user in "" 65532:65532; do
  out=$(timeout 120 "${buildah_cmd[@]}" run --isolation chroot ${user:+--user "$user"} "$container" -- \
    /usr/bin/pgvigil --version 2>&1) || fail "buildah run ${user:+--user $user} pgvigil --version: $out"
  grep -qF "$version" <<<"$out" || fail "pgvigil --version printed '$out', want $version"
done
log "buildah run: pgvigil --version as the image's user and as 65532: $out"

# --- as docker run --read-only: volumes, own network, read-only root ----------------------
mkdir -p "$work/etc-pgvigil" "$work/state"
cat >"$work/etc-pgvigil/pgvigil.toml" <<EOF
[server]
listen = ["0.0.0.0:$port"]

[[target]]
name = "nowhere"
host = "127.0.0.1"
port = 1          # nothing listens in the container's network namespace
dbname = "postgres"
user = "pgvigil_monitor"
connect_timeout = 2
EOF
chown -R "0:$gid" "$work/etc-pgvigil"
chmod 0750 "$work/etc-pgvigil"
chmod 0640 "$work/etc-pgvigil/pgvigil.toml"
chown "$uid:$gid" "$work/state"
chmod 0750 "$work/state"

# Runs inside `unshare --mount --net`: the mounts docker run --read-only would
# make, a proof that the root is read-only, then exec of the command as the
# image's user. Without --fork the pid written is the command's pid.
cat >"$work/enter.sh" <<'EOF'
set -euo pipefail
root=$1 config=$2 state=$3 userspec=$4 path=$5 home=$6 pidfile=$7
shift 7
ip link set lo up
mount --bind "$root" "$root"
mount -o remount,bind,ro,nosuid,nodev "$root"
mount -t tmpfs -o mode=0755,size=1m,nosuid tmpfs "$root/dev"
for device in null zero full random urandom; do
  : >"$root/dev/$device"
  mount --bind "/dev/$device" "$root/dev/$device"
done
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --bind "$config" "$root/etc/pgvigil"
mount -o remount,bind,ro "$root/etc/pgvigil"
mount --bind "$state" "$root/var/lib/pgvigil"
for place in / /tmp /etc/pgvigil; do
  if chroot "$root" /bin/sh -c ": >$place/.written-by-container-image-test" 2>/dev/null; then
    echo "enter: $place is writable; the test would prove nothing" >&2
    exit 90
  fi
done
echo "$$" >"$pidfile"
exec chroot --userspec="$userspec" "$root" /usr/bin/env -i "$path" HOME="$home" "$@"
EOF
# Then the pid file and the command.
enter=(unshare --mount --net -- bash "$work/enter.sh" "$root" "$work/etc-pgvigil" "$work/state"
  "$uid:$gid" "$image_path" "$home")
# A zombie still answers kill -0.
alive() { [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" =~ ^[RSDT]$ ]]; }

timeout 30 "${enter[@]}" "$work/check.pid" /usr/bin/pgvigil check-config /etc/pgvigil/pgvigil.toml \
  >"$work/check-config.log" 2>&1 || fail "pgvigil check-config in the image failed"
grep -q "0.0.0.0:$port" "$work/check-config.log" || fail "check-config does not show the listen address 0.0.0.0:$port"
log "check-config passes inside the image (read-only root, config volume read-only)"

run_started=$SECONDS
timeout 120 "${enter[@]}" "$work/run.pid" "${command[@]}" >"$work/run.log" 2>&1 &
runner_pid=$!
for ((i = 0; i < 100; i++)); do
  [[ -s "$work/run.pid" ]] && pid=$(cat "$work/run.pid") && break
  alive "$runner_pid" || break
  sleep 0.1
done
[[ -n "$pid" ]] || fail "the container's process did not start"

healthy=0
for ((i = 0; i < 60; i++)); do
  alive "$pid" || fail "pgvigil exited while starting"
  if timeout 5 nsenter --target "$pid" --net -- curl -fsS --max-time 2 "http://127.0.0.1:$port/health" \
    >"$work/health.out" 2>/dev/null; then
    healthy=1
    break
  fi
  sleep 0.5
done
((healthy)) || fail "/health did not answer 200 within 30 s"
log "/health answered 200 after $((SECONDS - run_started))s"

process_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ "$process_uid" == "$uid" ]] || fail "pgvigil runs as uid $process_uid, want $uid"

# The HEALTHCHECK exactly as the image states it, run in the container.
timeout 10 nsenter --target "$pid" --net --mount -- chroot --userspec="$uid:$gid" "$root" \
  /usr/bin/env -i "$image_path" /bin/sh -c "$healthcheck" >"$work/healthcheck.log" 2>&1 ||
  fail "the image's HEALTHCHECK command failed"
log "the HEALTHCHECK command succeeds inside the container"

timeout 10 nsenter --target "$pid" --net -- curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" \
  >"$work/metrics.out" || fail "/metrics failed"
grep -q 'target="nowhere"' "$work/metrics.out" || fail "/metrics has no series of the configured target"

kill -TERM "$pid"
stopped=0
for ((i = 0; i < 100; i++)); do
  if ! alive "$pid"; then
    stopped=1
    break
  fi
  sleep 0.1
done
((stopped)) || fail "pgvigil did not stop within 10 s of SIGTERM"
run_status=0
wait "$runner_pid" || run_status=$?
runner_pid=""
((run_status == 0)) || fail "pgvigil exited with status $run_status after SIGTERM"
if grep -iE 'read-only file system|permission denied' "$work/run.log"; then
  fail "pgvigil tried to write outside its volumes (run.log above)"
fi
log "pgvigil stopped cleanly on SIGTERM; it wrote $(find "$work/state" -mindepth 1 | wc -l) file(s) to the state volume"
log "ok: build ${build_seconds}s, whole test $((SECONDS - started))s"
