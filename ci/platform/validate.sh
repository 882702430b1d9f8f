#!/usr/bin/env bash
# Validates memproxy on a second platform: runs the conformance report here
# and inside a Debian root of another release (default: trixie, glibc 2.41),
# with the library and probes built here, then prints both side by side.
# In both places `harness contracts` also checks memproxy's table of what
# each allocator's own functions keep (memproxy/common/src/contracts.rs), and
# the contract through memproxy in front of each allocator, on every route.
#
#   ci/platform/validate.sh [--release trixie] [--allocator NAME=PATH]...
#   ci/platform/validate.sh --arch i686,aarch64 [ci/cross/validate.sh options]
#
# With --arch, other architectures instead: see ci/cross/validate.sh.
#
# Results: target/conformance/host/ and target/conformance/<release>/
# (report.json, report.md, contracts.json), and target/conformance/platforms.md.
# Needs root (debootstrap, chroot, mount namespaces) and, for the first run,
# network access to the Debian mirror. See ci/platform/README.md.
set -euo pipefail

for argument in "$@"; do
    if [[ "$argument" == --arch || "$argument" == --arch=* ]]; then
        exec "$(dirname "${BASH_SOURCE[0]}")/../cross/validate.sh" "$@"
    fi
done

release=trixie
added=()
while (($#)); do
    case "$1" in
        --release) release=$2; shift 2 ;;
        --release=*) release=${1#*=}; shift ;;
        --allocator) added+=(--allocator "$2"); shift 2 ;;
        --allocator=*) added+=(--allocator "${1#*=}"); shift ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "validate.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$top/target}
root=$target/platforms/$release
artifacts=$target/platforms/artifacts
started=$SECONDS

# The root needs python3 for the python-parent name case; everything else
# runs from the host build.
"$top/ci/platform/build-root.sh" --release "$release" --dir "$root" --add python3

cargo build --release --manifest-path "$top/Cargo.toml" -p harness
harness=$target/release/harness
"$harness" report --export-artifacts "$artifacts"

# The root's own gperftools tcmalloc, as an allocator given only by path.
tcmalloc_full=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
status=0
"$harness" report \
    --allocator "tcmalloc-full=$tcmalloc_full" "${added[@]}" \
    --out "$target/conformance/host" >"$target/conformance-host.log" 2>&1 || status=1
tail -n 3 "$target/conformance-host.log"
"$top/ci/platform/run-in-root.sh" --env "MEMPROXY_HARNESS_ARTIFACTS=$artifacts" "$root" -- \
    "$harness" report --allocator "tcmalloc-full=$tcmalloc_full" "${added[@]}" \
    --out "$target/conformance/$release" >"$target/conformance-$release.log" 2>&1 || status=1
tail -n 3 "$target/conformance-$release.log"

# What each allocator's own functions keep, here and there, against
# memproxy's table, and the contract through memproxy
# (harness/src/contracts.rs, harness/src/through_memproxy.rs; under a
# minute each).
"$harness" contracts --allocator "tcmalloc-full=$tcmalloc_full" "${added[@]}" \
    --json "$target/conformance/host/contracts.json" || status=1
"$top/ci/platform/run-in-root.sh" --env "MEMPROXY_HARNESS_ARTIFACTS=$artifacts" "$root" -- \
    "$harness" contracts --allocator "tcmalloc-full=$tcmalloc_full" "${added[@]}" \
    --json "$target/conformance/$release/contracts.json" || status=1

# The command's --allocator NAME must find each known allocator by the file
# this release installs (libmimalloc.so.3 on Debian 13, not .so.2).
cargo build --release --manifest-path "$top/Cargo.toml" -p memproxy-cli
table=$top/memproxy/common/src/known-allocators.txt
for name in jemalloc mimalloc tcmalloc; do
    file=$(awk -v release="$release" -v name="$name" '
        { sub(/#.*/, "") } $1 == release && $2 == name { print $3 }' "$table")
    line=$("$top/ci/platform/run-in-root.sh" "$root" -- "$target/release/memproxy" run \
        --lib "$artifacts/libmemproxy.so" --allocator "$name" --debug -- /bin/true 2>&1 || true)
    if [[ -n "$file" && "$line" == *"route=custom"*"allocator=\"/lib/x86_64-linux-gnu/$file\""* ]]; then
        echo "memproxy run --allocator $name in the $release root: $file"
    else
        echo "memproxy run --allocator $name in the $release root did not use ${file:-?}: $line" >&2
        status=1
    fi
done

echo
"$harness" compare --out "$target/conformance/platforms.md" \
    "$target/conformance/host/report.json" "$target/conformance/$release/report.json" || status=1
echo
echo "validate.sh: $((SECONDS - started)) s; logs in $target/conformance-{host,$release}.log"
exit "$status"
