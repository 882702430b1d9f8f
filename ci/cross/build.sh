#!/usr/bin/env bash
# Cross-builds the workspace for i686 and aarch64 inside the Debian 13 cross
# root (rustc/cargo 1.85, offline from a vendored tree), and lists every
# compile error by file:line.
#
#   ci/cross/build.sh [--target TRIPLE]... [--group NAME]... [--debug] [--jobs N]
#                     [--workspace DIR --out DIR]
#
# Targets (default: i686-unknown-linux-gnu aarch64-unknown-linux-gnu; also
# x86_64-unknown-linux-gnu, to tell "needs Rust > 1.85" from "not portable").
# Groups (default: lib fixtures harness c):
#   lib       -p memproxy -p memproxy-config   (the library: must build on 1.85)
#   fixtures  -p fixtures                      (probe-rs and the C/C++ probes)
#   harness   -p harness                       (the harness binary)
#   cli       -p memproxy-cli                  (the memproxy command)
#   bench     -p benches
#   c         every fixtures/c source with the target's cross gcc/g++,
#             compile only (fixtures/build.rs stops at the first failure)
# Each (target, group) is one cargo run with --keep-going. The workspace's
# rust-version is 1.85, the root's cargo: nothing needs ignoring.
#
# --workspace builds another copy of the workspace (to try a fix before
# applying it; it must lie under the target directory, which is the only
# writable part of the workspace mount inside the root), with --out for its
# results. Output in $CARGO_TARGET_DIR/cross (default target/cross):
#   <target>/<group>.log      cargo's full output
#   errors.md                 every error: target, group, file:line, message
#   summary.tsv               target, group, status, seconds, error count
# Artifacts: target/cross/build/<target>/release/... (CARGO_TARGET_DIR of the
# inner cargo). Exit status: 0 when every (target, group) built, 1 otherwise,
# 2 on a set-up error. See ci/cross/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
top="$(cd "$here/../.." && pwd -P)"
# shellcheck source=ci/cross/packages.sh
. "$here/packages.sh"

targets=()
groups=()
profile=release
jobs=""
workspace=""
out=""
while (($#)); do
    case "$1" in
        --target) targets+=("$2"); shift 2 ;;
        --target=*) targets+=("${1#*=}"); shift ;;
        --group) groups+=("$2"); shift 2 ;;
        --group=*) groups+=("${1#*=}"); shift ;;
        --debug) profile=dev; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        --workspace) workspace="$(cd "$2" && pwd -P)"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h | --help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
((${#targets[@]})) || targets=(i686-unknown-linux-gnu aarch64-unknown-linux-gnu)
((${#groups[@]})) || groups=(lib fixtures harness c)

packages_of() {
    case "$1" in
        lib) echo "-p memproxy -p memproxy-config" ;;
        fixtures) echo "-p fixtures" ;;
        harness) echo "-p harness" ;;
        cli) echo "-p memproxy-cli" ;;
        bench) echo "-p benches" ;;
        c) echo "(fixtures/c, compile only)" ;;
        *) return 1 ;;
    esac
}
for group in "${groups[@]}"; do
    packages_of "$group" >/dev/null || { echo "build.sh: unknown group '$group'" >&2; exit 2; }
done
for target in "${targets[@]}"; do
    cross_gnu_triplet "$target" >/dev/null || { echo "build.sh: unknown target '$target'" >&2; exit 2; }
done

target_dir="${CARGO_TARGET_DIR:-$top/target}"
[[ "$target_dir" == /* ]] || target_dir="$top/$target_dir"
[[ -n "$out" ]] || out="$target_dir/cross"
[[ "$out" == /* ]] || out="$PWD/$out"
mkdir -p "$out"
ws="${workspace:-$top}"
if [[ "$ws" != "$top" && "$ws" != "$target_dir"/* ]]; then
    echo "build.sh: --workspace must be under $target_dir (visible inside the root)" >&2
    exit 2
fi
started=$SECONDS

t0=$SECONDS
root="$("$here/build-root.sh")" || exit 2
t_root=$((SECONDS - t0))
t0=$SECONDS
vendor="$("$here/vendor.sh" "$root")" || exit 2
t_vendor=$((SECONDS - t0))

# The inner cargo's home: only this config, so nothing of the host's
# ~/.cargo leaks in. Offline, from the vendored tree; the cross linkers.
cargo_home="$out/cargo-home"
mkdir -p "$cargo_home"
{
    printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
    printf '[source.vendored-sources]\ndirectory = "%s"\n\n' "$vendor"
    printf '[net]\noffline = true\n\n'
    for target in i686-unknown-linux-gnu aarch64-unknown-linux-gnu; do
        printf '[target.%s]\nlinker = "%s-gcc"\n\n' "$target" "$(cross_gnu_triplet "$target")"
    done
} >"$cargo_home/config.toml"

# The cc crate (fixtures/build.rs) reads CC_<target>/CXX_<target>/AR_<target>.
envs=(--env "CARGO_HOME=$cargo_home" --env "CARGO_TARGET_DIR=$out/build" --env CARGO_TERM_COLOR=never)
for target in i686-unknown-linux-gnu aarch64-unknown-linux-gnu; do
    triplet="$(cross_gnu_triplet "$target")"
    t_="${target//-/_}"
    envs+=(--env "CC_$t_=$triplet-gcc" --env "CXX_$t_=$triplet-g++" --env "AR_$t_=$triplet-ar")
done

printf 'target\tgroup\tstatus\tseconds\terrors\n' >"$out/summary.tsv"
errors_md="$out/errors.md"
{
    echo "# Cross-build errors"
    echo
    echo "rustc: $("$here/../platform/run-in-root.sh" "$root" -- rustc --version 2>/dev/null)"
    echo "cargo: $("$here/../platform/run-in-root.sh" "$root" -- cargo --version 2>/dev/null)"
    echo "profile: $profile; built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo
} >"$errors_md"

status=0
for target in "${targets[@]}"; do
    mkdir -p "$out/$target"
    for group in "${groups[@]}"; do
        log="$out/$target/$group.log"
        json="$out/$target/$group.json"
        if [[ "$group" == c ]]; then
            # Every C/C++ fixture source with this target's cross compiler.
            t0=$SECONDS
            rc=0
            "$here/../platform/run-in-root.sh" --wd "$ws" "$root" -- \
                sh "$here/c-sweep.sh" "$ws" "$(cross_gnu_triplet "$target")" >"$log" 2>&1 || rc=$?
            secs=$((SECONDS - t0))
            n_errors="$(grep -c ': error: ' "$log" || true)"
            {
                echo "## $target / c (every fixtures/c source, compile only): $n_errors C/C++ error(s)"
                echo
                if [[ "$n_errors" -gt 0 ]]; then
                    echo "| file:line:col | message |"
                    echo "| --- | --- |"
                    sed -n 's|^[^ ]*: '"$ws"'/\([^:]*:[0-9]*:[0-9]*\): \(fatal \)\{0,1\}error: \(.*\)$|\| `\1` \| \3 \||p' "$log" | sort -u
                    echo
                    grep ': FAILED ' "$log" | sed 's/^/    /'
                    echo
                fi
            } >>"$errors_md"
            [[ "$rc" -eq 0 ]] && state=ok || { state="failed($rc)"; status=1; }
            printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$group" "$state" "$secs" "$n_errors" >>"$out/summary.tsv"
            echo "build.sh: $target c: $state in ${secs}s, $n_errors error(s); log $log" >&2
            continue
        fi
        read -r -a pkgs <<<"$(packages_of "$group")"
        cmd=(cargo build --profile "$profile" --target "$target" "${pkgs[@]}"
            --locked --offline --keep-going
            --message-format=json)
        [[ -z "$jobs" ]] || cmd+=(--jobs "$jobs")
        echo "build.sh: $target $group: ${cmd[*]}" >&2
        t0=$SECONDS
        rc=0
        "$here/../platform/run-in-root.sh" "${envs[@]}" --wd "$ws" "$root" -- "${cmd[@]}" \
            >"$json" 2>"$log" || rc=$?
        secs=$((SECONDS - t0))
        # The compiler's messages, rendered, after cargo's own lines.
        n_errors="$(python3 "$here/errors.py" --target "$target" --group "$group" \
            --rendered "$log" --markdown "$errors_md" --top "$ws" "$json")"
        if [[ "$rc" -eq 0 ]]; then
            state=ok
        else
            state="failed($rc)"
            status=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$group" "$state" "$secs" "$n_errors" >>"$out/summary.tsv"
        echo "build.sh: $target $group: $state in ${secs}s, $n_errors error(s); log $log" >&2
    done
done
{
    echo
    echo "## Summary"
    echo
    echo '```'
    column -t -s $'\t' "$out/summary.tsv"
    echo '```'
    echo
    echo "root ${t_root}s, vendor ${t_vendor}s, total $((SECONDS - started))s"
} >>"$errors_md"
column -t -s $'\t' "$out/summary.tsv"
echo "build.sh: root ${t_root}s, vendor ${t_vendor}s, total $((SECONDS - started))s; errors in $errors_md" >&2
exit "$status"
