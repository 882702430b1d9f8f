#!/usr/bin/env bash
# The dispatch benchmark's instruction counts on i686: extra instructions per
# allocator call through memproxy, against each allocator preloaded alone,
# counted with callgrind in the Debian 13 i386 root (valgrind runs 32-bit
# programs natively).
#
#   ci/cross/callgrind.sh [--quick]
#
# aarch64 is not measured: valgrind does not run under qemu-user, and what
# an emulator executes is its own translation of the code, not the aarch64
# instructions a real CPU would count.
#
# Prints a Markdown table (workload x allocator: +extra (direct) instructions
# per call) and writes it to target/cross/callgrind-i686.md. --quick: one
# count of 20,000 calls per set-up instead of three of 50,000.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
top="$(cd "$here/../.." && pwd -P)"
target_dir="${CARGO_TARGET_DIR:-$top/target}"
quick=()
case "${1:-}" in
    --quick) quick=(--quick) ;;
    "") ;;
    --arch=aarch64 | aarch64)
        echo "callgrind.sh: aarch64 is not measured: valgrind does not run under qemu-user (see --help)" >&2
        exit 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

triple=i686-unknown-linux-gnu
"$here/build.sh" --target "$triple" --group lib --group fixtures --group bench >/dev/null || {
    echo "callgrind.sh: the i686 build failed; every error is in $target_dir/cross/errors.md" >&2
    exit 2
}
artifacts="$target_dir/cross/art-i686"
"$here/artifacts.sh" --target "$triple" "$artifacts" >/dev/null
out="$target_dir/cross/callgrind-i686.md"
"$here/run.sh" --target "$triple" -- \
    "$target_dir/cross/build/$triple/release/dispatch-instructions" \
    "$artifacts/libmemproxy.so" "$artifacts/bench-workload" "$target_dir/cross/callgrind-i686-work" \
    "${quick[@]}" >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
