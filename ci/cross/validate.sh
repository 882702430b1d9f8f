#!/usr/bin/env bash
# The conformance matrix on other architectures, side by side with this
# host's (x86_64): cross-builds the library, probes and harness for each
# architecture in the Debian 13 cross root, runs `harness report` in that
# architecture's own Debian 13 root (i686 natively, aarch64 under qemu-user),
# then prints every report side by side.
#
#   ci/cross/validate.sh [--arch i686,aarch64] [--cover] [--host-report PATH]
#                        [--jobs N]
#
# --arch         architectures, comma-separated or repeated: i686, aarch64
#                (default both). x86_64, this host, is always the first column.
# --cover        on an emulated architecture (aarch64), `harness report
#                --cover` instead of the whole product: every preload order,
#                name case, config form, allocator and kind at least once (535
#                of 2,205 groups, about 2 minutes instead of 6 under qemu-user
#                on 2 cores), for a quick look. The report and the table say
#                so. By default every architecture runs the whole product.
#
# Each architecture's library is also checked by `harness hook-shape`: every
# plain hook is one jump through its own slot, in that architecture's
# instructions. And `harness contracts` measures, in that architecture's
# root, which contracts each allocator's own functions keep, and fails on
# any difference from memproxy's table (memproxy/common/src/contracts.rs),
# or on any check of the contract that fails through memproxy in front of
# an allocator, excluded or not (harness/src/through_memproxy.rs).
# --host-report  the host's report.json, if it already ran with the same
#                allocators; otherwise the host report runs here.
#
# Every report covers glibc, jemalloc, mimalloc, tcmalloc (minimal) and
# gperftools' full tcmalloc given by path, as on x86_64.
#
# Results: target/conformance/arch-<arch>/{report.json,report.md,contracts.json}
# and target/conformance/architectures.{md,json}. Needs root and, for the first
# run, network access to the Debian mirror (roots and .debs are cached in
# /var/cache/memproxy-ci). Exit status: 0 when every cell, hook and
# contract of every architecture passed, 1 when any failed, 2 on bad
# arguments or a set-up error. See ci/cross/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
top="$(cd "$here/../.." && pwd -P)"
target_dir="${CARGO_TARGET_DIR:-$top/target}"
# shellcheck source=ci/cross/packages.sh
. "$here/packages.sh"

arches=()
cover=0
host_report=""
jobs=2
while (($#)); do
    case "$1" in
        --arch) IFS=, read -ra more <<<"$2"; arches+=("${more[@]}"); shift 2 ;;
        --arch=*) IFS=, read -ra more <<<"${1#*=}"; arches+=("${more[@]}"); shift ;;
        --cover) cover=1; shift ;;
        --host-report) host_report="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        -h | --help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "validate.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
((${#arches[@]})) || arches=(i686 aarch64)

# Architecture name -> Rust target, and whether it runs under emulation.
triple_of() {
    case "$1" in
        i686) echo i686-unknown-linux-gnu ;;
        aarch64) echo aarch64-unknown-linux-gnu ;;
        *) return 1 ;;
    esac
}
emulated() { [[ "$1" == aarch64 ]]; }
# gperftools' full tcmalloc, given by path as ci/platform/validate.sh gives
# it on x86_64: the allocators a report covers are the same everywhere.
tcmalloc_full() { echo "tcmalloc-full=/usr/lib/$1/libtcmalloc.so.4"; }

for arch in "${arches[@]}"; do
    if [[ "$arch" == x86_64 ]]; then
        echo "validate.sh: x86_64 is this host, always the first column; --arch takes the others: i686, aarch64" >&2
        exit 2
    fi
    triple_of "$arch" >/dev/null || {
        echo "validate.sh: unknown --arch '$arch': this script knows i686 and aarch64" >&2
        echo "  (other architectures Debian ships, such as armhf, ppc64el, riscv64 or s390x, need a row in ci/cross/packages.sh and a qemu-user runner; see docs/platforms.md)" >&2
        exit 2
    }
done
if [[ "$(uname -m)" != x86_64 ]]; then
    echo "validate.sh: this script runs on an x86_64 Debian host (this is $(uname -m))" >&2
    exit 2
fi
started=$SECONDS

root="$("$here/build-root.sh")" || {
    echo "validate.sh: the cross root could not be built (see the log above and ci/cross/README.md)" >&2
    exit 2
}
# A root built before a package was added, or a mirror that lost one: name
# the package and the line that installs it.
missing=()
for arch in "${arches[@]}"; do
    triplet=$(cross_gnu_triplet "$(triple_of "$arch")")
    for tool in "$triplet-gcc:gcc-$triplet" "$triplet-g++:g++-$triplet" cargo:cargo; do
        chroot "$root" /bin/sh -c "command -v ${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
    done
    emulated "$arch" && { chroot "$root" /bin/sh -c 'command -v qemu-aarch64' >/dev/null 2>&1 || missing+=(qemu-user); }
done
if ((${#missing[@]})); then
    echo "validate.sh: the cross root $root lacks: ${missing[*]}" >&2
    echo "  install them with: chroot $root apt-get install -y ${missing[*]}" >&2
    echo "  (or remove $root and run ci/cross/build-root.sh again)" >&2
    exit 2
fi

status=0
reports=()
cargo build --release --manifest-path "$top/Cargo.toml" -p harness
harness="$target_dir/release/harness"
if [[ -z "$host_report" ]]; then
    "$harness" report --jobs "$jobs" --allocator "$(tcmalloc_full x86_64-linux-gnu)" \
        --out "$target_dir/conformance/arch-x86_64" \
        >"$target_dir/conformance-arch-x86_64.log" 2>&1 || status=1
    tail -n 3 "$target_dir/conformance-arch-x86_64.log"
    host_report="$target_dir/conformance/arch-x86_64/report.json"
fi
[[ -f "$host_report" ]] || { echo "validate.sh: no host report at $host_report" >&2; exit 2; }
reports+=("$host_report")

for arch in "${arches[@]}"; do
    triple=$(triple_of "$arch")
    echo "validate.sh: $arch: building ($triple)"
    "$here/build.sh" --target "$triple" --group lib --group fixtures --group harness || {
        echo "validate.sh: $arch: the build failed; every error is in $target_dir/cross/errors.md" >&2
        exit 2
    }
    artifacts="$target_dir/cross/art-$arch"
    "$here/artifacts.sh" --target "$triple" "$artifacts"
    # Each plain hook one jump through its own slot, in this architecture's
    # instructions (test-support/src/hook_shape.rs).
    "$harness" hook-shape "$artifacts/libmemproxy.so" || status=1
    selection=()
    if emulated "$arch" && ((cover)); then
        selection=(--cover)
    fi
    out="$target_dir/conformance/arch-$arch"
    log="$target_dir/conformance-arch-$arch.log"
    full="$(tcmalloc_full "$(cross_gnu_triplet "$triple" | sed 's/^i686/i386/')")"
    # What each allocator's own functions keep, there, against PROVEN
    # (harness/src/contracts.rs), and the contract through memproxy on every
    # route: under a minute, so always in full.
    echo "validate.sh: $arch: the allocators' own contracts, and through memproxy"
    "$here/run.sh" --target "$triple" --env "MEMPROXY_HARNESS_ARTIFACTS=$artifacts" -- \
        "$target_dir/cross/build/$triple/release/harness" contracts --allocator "$full" \
        --json "$out/contracts.json" || status=1
    echo "validate.sh: $arch: the conformance report${selection:+ (covering selection)}; log in $log"
    "$here/run.sh" --target "$triple" --env "MEMPROXY_HARNESS_ARTIFACTS=$artifacts" -- \
        "$target_dir/cross/build/$triple/release/harness" report --jobs "$jobs" "${selection[@]}" \
        --allocator "$full" --out "$out" >"$log" 2>&1 || status=1
    tail -n 3 "$log"
    [[ -f "$out/report.json" ]] || { echo "validate.sh: $arch: no report written (see $log)" >&2; exit 2; }
    reports+=("$out/report.json")
done

echo
"$harness" compare --out "$target_dir/conformance/architectures.md" \
    --json "$target_dir/conformance/architectures.json" "${reports[@]}" || status=1
echo
echo "validate.sh: $((SECONDS - started)) s; tables in $target_dir/conformance/architectures.{md,json}"
exit "$status"
