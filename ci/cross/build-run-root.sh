#!/usr/bin/env bash
# Builds (or reuses) a Debian 13 root whose userland is the TARGET's own
# architecture, for running the conformance report faithfully: every program
# the harness starts (probes, sh, env, bash, python3, unshare, mount) is then
# a target program, and LD_PRELOAD or /etc/ld.so.preload meant for the target
# reach target ld.so's only. A thin wrapper around ci/platform/build-root.sh.
#
#   ci/cross/build-run-root.sh --target aarch64-unknown-linux-gnu|i686-unknown-linux-gnu [build-root.sh options...]
#
#   i686:    a Debian i386 root; the kernel runs it natively.
#   aarch64: a Debian arm64 root; debootstrap's second stage, the checks and
#            every later run go through ci/cross/qemu-binfmt.sh (a private
#            binfmt_misc entry for the static qemu-aarch64 of the cross root,
#            which must exist: ci/cross/build-root.sh).
# Both get amd64's libc6 and libgcc-s1 too (multiarch), so an x86_64 harness
# built on the host runs in them natively (see README: the runner design).
# Root: $MEMPROXY_CI_CACHE/roots/trixie-<arch> (default cache
# /var/cache/memproxy-ci). Prints the root's path on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=ci/cross/packages.sh
. "$here/packages.sh"
target=""
if [[ "${1:-}" == --target ]]; then
    target="$2"
    shift 2
elif [[ "${1:-}" == --target=* ]]; then
    target="${1#*=}"
    shift
fi
arch="$(cross_deb_arch "$target")" || { echo "build-run-root.sh: --target aarch64-unknown-linux-gnu or i686-unknown-linux-gnu" >&2; exit 2; }
cache="${MEMPROXY_CI_CACHE:-/var/cache/memproxy-ci}"
root="$cache/roots/$CROSS_RELEASE-$arch"

args=(--release "$CROSS_RELEASE" --arch "$arch" --dir "$root" --cache-dir "$cache/debs/$CROSS_RELEASE-$arch"
    --add python3 --add mount --add libtbbmalloc2
    --foreign-arch amd64 --apt-add libc6:amd64 --apt-add libgcc-s1:amd64)
case "$arch" in
    i386)
        # valgrind runs 32-bit programs natively: ci/cross/callgrind.sh.
        "$here/../platform/build-root.sh" "${args[@]}" --add valgrind "$@" >&2 ;;
    arm64)
        # debootstrap's device nodes: bind mounts instead of mknod, which a
        # user namespace may not do (debootstrap does so for container=lxc).
        container=lxc "$here/qemu-binfmt.sh" --share-net -- \
            "$here/../platform/build-root.sh" "${args[@]}" "$@" >&2 ;;
esac
printf '%s\n' "$root"
