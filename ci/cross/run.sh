#!/usr/bin/env bash
# Runs a command inside a target's root: ci/platform/run-in-root.sh, plus, for
# aarch64, a private binfmt_misc entry for the static qemu-aarch64
# (ci/cross/qemu-binfmt.sh), so aarch64 programs run wherever they are
# exec'd, LD_PRELOAD and /etc/ld.so.preload reaching the guest ld.so only.
#
#   ci/cross/run.sh --target TRIPLE [--in native|cross] [run-in-root options] -- CMD [ARG...]
#
#   --in native  (default) the target's own root, ci/cross/build-run-root.sh
#                (trixie-i386 / trixie-arm64; built if missing): every program
#                in it is a target program. Use this for the harness.
#   --in cross   the cross build root (amd64 userland with i386/arm64 libs):
#                fine for a probe run directly, but sh, env, bash and python3
#                there are amd64, and with a target LD_PRELOAD their ld.so
#                prints "ERROR: ld.so: object ... cannot be preloaded".
# For aarch64 the command runs in its own network namespace (loopback only).
# Exit status: CMD's; 125 when the set-up failed. See ci/cross/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=ci/cross/packages.sh
. "$here/packages.sh"
target=""
where=native
while (($#)); do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --target=*) target="${1#*=}"; shift ;;
        --in) where="$2"; shift 2 ;;
        --in=*) where="${1#*=}"; shift ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
arch="$(cross_deb_arch "$target")" || { echo "run.sh: --target aarch64-unknown-linux-gnu or i686-unknown-linux-gnu" >&2; exit 125; }
case "$where" in
    native) root="$("$here/build-run-root.sh" --target "$target")" || exit 125 ;;
    cross) root="$("$here/build-root.sh")" || exit 125 ;;
    *) echo "run.sh: --in native or --in cross" >&2; exit 125 ;;
esac
# run-in-root.sh's own options, then the root, then '--' and the command.
opts=()
while (($#)) && [[ "$1" != "--" ]]; do
    opts+=("$1")
    shift
done
[[ "${1:-}" == "--" ]] || { echo "run.sh: expected '--' and then the command" >&2; exit 125; }
grep -v '^pkg\.' "$root/.memproxy-root-info" | sed -n 's/^\(multiarch\|lib\.[a-z_]*\)=/&/p' |
    sed 's/^/run.sh: root: /' >&2 || true
if [[ "$arch" == arm64 ]]; then
    # The harness reports what emulation cannot show as not run
    # (harness/src/emulation.rs).
    exec "$here/qemu-binfmt.sh" -- "$here/../platform/run-in-root.sh" \
        --env MEMPROXY_HARNESS_EMULATOR=qemu-user "${opts[@]}" "$root" "$@"
fi
exec "$here/../platform/run-in-root.sh" "${opts[@]}" "$root" "$@"
