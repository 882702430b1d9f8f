#!/usr/bin/env bash
# Gathers one target's cross-built artifacts (ci/cross/build.sh) into a
# directory laid out as `harness report --export-artifacts` lays it out, for
# MEMPROXY_HARNESS_ARTIFACTS: libmemproxy.so, probe-rs, every C fixture of
# fixtures.json, and a fixtures.json naming the copies.
#
#   ci/cross/artifacts.sh --target TRIPLE [--build DIR] OUT
#
# --build: the inner cargo's target dir (default: target/cross/build).
# probe-c keeps the absolute path of the plugin it was built next to (under
# the target dir, which run-in-root.sh mounts at the same path).
set -euo pipefail

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
target=""
build="${CARGO_TARGET_DIR:-$top/target}/cross/build"
while (($#)); do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --build) build="$2"; shift 2 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
out="${1:?usage: ci/cross/artifacts.sh --target TRIPLE [--build DIR] OUT}"
[[ -n "$target" ]] || { echo "artifacts.sh: --target is required" >&2; exit 2; }
release="$build/$target/release"
for file in libmemproxy.so probe-rs; do
    [[ -f "$release/$file" ]] || { echo "artifacts.sh: $release/$file missing: build it (ci/cross/build.sh --target $target)" >&2; exit 1; }
done
# The fixtures build script's OUT_DIR: the newest one holding fixtures.json.
manifest="$(ls -t "$release"/build/fixtures-*/out/fixtures.json 2>/dev/null | head -n1)"
[[ -n "$manifest" ]] || { echo "artifacts.sh: no fixtures.json under $release/build: build the fixtures" >&2; exit 1; }

mkdir -p "$out"
cp -f "$release/libmemproxy.so" "$release/probe-rs" "$out/"
python3 - "$manifest" "$out" <<'PY'
import json, os, shutil, sys
manifest, out = sys.argv[1], sys.argv[2]
entries = json.load(open(manifest))
local = {}
for name, path in sorted(entries.items()):
    shutil.copy2(path, os.path.join(out, name))
    local[name] = os.path.join(os.path.abspath(out), name)
json.dump(local, open(os.path.join(out, "fixtures.json"), "w"))
PY
echo "artifacts.sh: $target artifacts in $out ($(ls "$out" | wc -l) files)" >&2
