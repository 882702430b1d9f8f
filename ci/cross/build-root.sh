#!/usr/bin/env bash
# Builds (or reuses) the Debian 13 cross root: rustc/cargo 1.85 with the
# i686 and aarch64 std, the cross gcc/g++, qemu-user, and the allocators of
# amd64, i386 and arm64. A thin wrapper around ci/platform/build-root.sh.
#
#   ci/cross/build-root.sh [--force] [build-root.sh options...]
#
# The root lives outside the repository, so that CI on a fresh clone reuses
# it: $MEMPROXY_CI_CACHE/roots/trixie-cross (default cache:
# /var/cache/memproxy-ci), its .debs in $MEMPROXY_CI_CACHE/debs/trixie-cross.
# Prints the root's path on stdout. See ci/cross/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=ci/cross/packages.sh
. "$here/packages.sh"
cache="${MEMPROXY_CI_CACHE:-/var/cache/memproxy-ci}"
root="${MEMPROXY_CROSS_ROOT:-$cache/roots/$CROSS_RELEASE-cross}"

args=(--release "$CROSS_RELEASE" --dir "$root" --cache-dir "$cache/debs/$CROSS_RELEASE-cross")
for arch in "${CROSS_FOREIGN_ARCHS[@]}"; do
    args+=(--foreign-arch "$arch")
done
for pkg in "${CROSS_APT_PACKAGES[@]}"; do
    args+=(--apt-add "$pkg")
done
"$here/../platform/build-root.sh" "${args[@]}" "$@" >&2
printf '%s\n' "$root"
