#!/usr/bin/env bash
# Builds the .deb with CPack from a release build of the tree, checks its
# metadata, installs it on this machine with dpkg, runs check-config on the
# installed configuration, then removes and purges it and checks that nothing
# is left. The machine ends as it started: a pgvigil user this test caused to
# exist is deleted again.
#
# Needs root (dpkg -i). The release build lives in build/deb-package and is
# reused, so only the first run compiles everything.
set -euo pipefail

source_dir=${PGVIGIL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build_dir=${PGVIGIL_DEB_BUILD_DIR:-$source_dir/build/deb-package}
work=$(mktemp -d)
installed_by_us=0
user_existed=0
group_existed=0

log() { echo "deb_package: $*"; }
fail() {
  echo "deb_package: FAIL: $*" >&2
  exit 1
}

cleanup() {
  local status=$?
  if ((installed_by_us)) && dpkg-query -W -f='${db:Status-Status}' pgvigil 2>/dev/null |
    grep -qv '^not-installed$'; then
    timeout 120 dpkg --purge pgvigil >>"$work/dpkg.log" 2>&1 || echo "deb_package: cleanup: dpkg --purge failed" >&2
  fi
  if ((installed_by_us)); then
    if ((!user_existed)) && getent passwd pgvigil >/dev/null; then userdel pgvigil || true; fi
    if ((!group_existed)) && getent group pgvigil >/dev/null; then groupdel pgvigil || true; fi
  fi
  if ((status != 0)) && [[ -s "$work/dpkg.log" ]]; then
    echo "--- dpkg output ---" >&2
    tail -n 40 "$work/dpkg.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

[[ $EUID -eq 0 ]] || fail "must run as root (dpkg -i); run it in CI or a throwaway machine"
for tool in cmake cpack dpkg dpkg-deb dpkg-shlibdeps flock readelf runuser; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

# Two runs at once would fight over dpkg and the pgvigil user.
# The lock lives in the (git-ignored) build directory, not in /tmp.
mkdir -p "$build_dir"
exec 9>"$build_dir/.deb-package.lock"
flock -w 900 9 || fail "another deb_package run holds $build_dir/.deb-package.lock"

# Never touch a real installation.
if dpkg-query -W -f='${db:Status-Status}' pgvigil 2>/dev/null | grep -qv '^not-installed$'; then
  fail "a pgvigil package is already installed here; refusing to replace it"
fi
for path in /usr/bin/pgvigil /etc/pgvigil /var/lib/pgvigil /usr/lib/systemd/system/pgvigil.service; do
  [[ ! -e "$path" ]] || fail "$path already exists; refusing to overwrite it"
done
getent passwd pgvigil >/dev/null && user_existed=1
getent group pgvigil >/dev/null && group_existed=1

# --- build the package -------------------------------------------------------
log "configuring a release build in $build_dir"
timeout 300 cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DPGVIGIL_BUILD_TESTS=OFF >"$work/configure.log" 2>&1 ||
  {
    tail -n 30 "$work/configure.log" >&2
    fail "cmake configure failed"
  }
log "building pgvigil (release)"
timeout 3000 cmake --build "$build_dir" --target pgvigil -j2 >"$work/build.log" 2>&1 ||
  {
    tail -n 30 "$work/build.log" >&2
    fail "build failed"
  }
rm -f "$build_dir"/pgvigil_*.deb
log "running cpack -G DEB"
(cd "$build_dir" && timeout 600 cpack -G DEB) >"$work/cpack.log" 2>&1 ||
  {
    tail -n 30 "$work/cpack.log" >&2
    fail "cpack failed"
  }
debs=("$build_dir"/pgvigil_*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "cpack made no single pgvigil_*.deb"
deb=${debs[0]}
log "built $(basename "$deb")"

# --- package metadata ----------------------------------------------------------
depends=$(dpkg-deb -f "$deb" Depends)
log "Depends: $depends"
# The libraries pgvigil is known to link dynamically. Boost.System is
# header-only since 1.69, so libboost-system is needed only if the binary says so.
for library in libpq5 libprometheus-cpp-core libspdlog libsystemd0 libtomlplusplus; do
  grep -q "\b$library" <<<"$depends" || fail "Depends lacks $library"
done
# Every shared library the packaged binary needs must come from a dependency
# (spdlog's shlibs name a virtual "libspdlog1.10-fmt9": match by prefix).
mkdir -p "$work/root"
dpkg-deb -x "$deb" "$work/root"
needed=$(readelf -d "$work/root/usr/bin/pgvigil" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[[ -n "$needed" ]] || fail "could not read the packaged binary's NEEDED entries"
for soname in $needed; do
  owners=$(dpkg -S "*/$soname" 2>/dev/null | cut -d: -f1 | tr ', ' '\n\n' | sort -u)
  [[ -n "$owners" ]] || fail "no installed package provides $soname"
  found=0
  for owner in $owners; do
    grep -q "\(^\|[ ,|]\)$owner" <<<"$depends" && found=1
  done
  ((found)) || fail "Depends names none of the packages providing $soname ($(echo $owners))"
done

dpkg-deb -e "$deb" "$work/control"
grep -qx '/etc/pgvigil/pgvigil.toml' "$work/control/conffiles" ||
  fail "conffiles does not list /etc/pgvigil/pgvigil.toml"
for script in postinst prerm postrm; do
  [[ -x "$work/control/$script" ]] || fail "maintainer script $script missing or not executable"
done

dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's#^\./#/#; s#/$##' | grep -v '^$' >"$work/contents"
for path in /usr/bin/pgvigil /usr/lib/systemd/system/pgvigil.service \
  /usr/lib/sysusers.d/pgvigil.conf /usr/lib/tmpfiles.d/pgvigil.conf \
  /usr/share/man/man1/pgvigil.1.gz /etc/pgvigil/pgvigil.toml; do
  grep -qx "$path" "$work/contents" || fail "package lacks $path"
done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/pgvigil.service |
  grep -q '^ExecStart=/usr/bin/pgvigil run -c /etc/pgvigil/pgvigil.toml$' ||
  fail "packaged unit does not run /usr/bin/pgvigil"

# --- install -----------------------------------------------------------------------
log "installing with dpkg -i"
installed_by_us=1
timeout 300 dpkg -i "$deb" >>"$work/dpkg.log" 2>&1 || fail "dpkg -i failed"
[[ "$(dpkg-query -W -f='${db:Status-Status}' pgvigil)" == installed ]] || fail "dpkg does not list pgvigil as installed"

/usr/bin/pgvigil version >"$work/version" 2>&1 || fail "installed pgvigil version failed"
grep -q '0\.' "$work/version" || fail "unexpected version output: $(cat "$work/version")"

getent passwd pgvigil >/dev/null || fail "postinst did not create the pgvigil user"
shell=$(getent passwd pgvigil | cut -d: -f7)
[[ "$shell" == */nologin ]] || fail "pgvigil user has login shell $shell"
owner=$(stat -c '%U:%G %a' /etc/pgvigil/pgvigil.toml)
[[ "$owner" == "root:pgvigil 640" ]] || fail "/etc/pgvigil/pgvigil.toml is $owner, want root:pgvigil 640"

# check-config as root, and as the service user (proves the group can read it).
timeout 30 /usr/bin/pgvigil check-config /etc/pgvigil/pgvigil.toml >"$work/check.out" 2>"$work/check.err" ||
  {
    cat "$work/check.err" >&2
    fail "pgvigil check-config /etc/pgvigil/pgvigil.toml failed"
  }
timeout 30 runuser -u pgvigil -- /usr/bin/pgvigil check-config /etc/pgvigil/pgvigil.toml \
  >/dev/null 2>"$work/check-user.err" ||
  {
    cat "$work/check-user.err" >&2
    fail "the pgvigil user cannot check its own configuration"
  }
log "check-config passes on the installed configuration (root and pgvigil)"

# --- remove, then purge --------------------------------------------------------
timeout 120 dpkg -r pgvigil >>"$work/dpkg.log" 2>&1 || fail "dpkg -r failed"
for path in /usr/bin/pgvigil /usr/lib/systemd/system/pgvigil.service /usr/share/man/man1/pgvigil.1.gz; do
  [[ ! -e "$path" ]] || fail "$path still there after dpkg -r"
done
# dpkg -r keeps conffiles until purge.
[[ -f /etc/pgvigil/pgvigil.toml ]] || fail "dpkg -r removed the conffile (it must wait for purge)"

timeout 120 dpkg --purge pgvigil >>"$work/dpkg.log" 2>&1 || fail "dpkg --purge failed"
status=$(dpkg-query -W -f='${db:Status-Status}' pgvigil 2>/dev/null || true)
[[ -z "$status" || "$status" == not-installed ]] || fail "dpkg still lists pgvigil ($status) after purge"
while read -r path; do
  # Shared directories such as /usr/bin stay; anything of ours must be gone.
  [[ -d "$path" && ! "$path" =~ pgvigil ]] && continue
  [[ ! -e "$path" ]] || fail "$path left behind after purge"
done <"$work/contents"
for path in /etc/pgvigil /var/lib/pgvigil; do
  [[ ! -e "$path" ]] || fail "$path left behind after purge"
done
log "removed and purged cleanly"
log "ok"
