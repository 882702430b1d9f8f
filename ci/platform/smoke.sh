#!/usr/bin/env bash
# Shows that host-built programs and libmemproxy.so run inside a root made by
# build-root.sh, on the root's glibc and allocators, next to the same runs on
# the host. Also lists both platforms' allocator package versions and which
# malloc-family functions each allocator exports.
#
#   ci/platform/smoke.sh [--dir DIR] [--cargo] [--strict]
#
# Writes the report to stdout and to target/platforms/smoke/report-RELEASE.txt.
# Exits non-zero when a probe fails or memproxy does not route to the root's
# allocator.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
TOP="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
readonly SCRIPT_DIR TOP
readonly RUN="$SCRIPT_DIR/run-in-root.sh"
# The names looked for in each allocator's dynamic symbol table.
readonly SYMBOLS=(
    malloc free calloc realloc reallocarray memalign posix_memalign aligned_alloc
    valloc pvalloc malloc_usable_size malloc_trim cfree free_sized free_aligned_sized
    _Znwm _Znam _ZdlPv _ZdlPvm _ZnwmSt11align_val_t _ZdlPvSt11align_val_t
    mi_malloc tc_malloc je_malloc
)
readonly ALLOCATORS=(jemalloc mimalloc tcmalloc_minimal tcmalloc)

die() { printf 'smoke: error: %s\n' "$*" >&2; exit 1; }

dir="$TOP/target/platforms/trixie"
cargo=0
strict=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; dir="$2"; shift 2 ;;
        --cargo) cargo=1; shift ;;
        --strict) strict=1; shift ;;
        -h | --help)
            sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
            echo "--cargo runs 'cargo build --release -p memproxy' first."
            echo "--strict also fails on memproxy findings (see the report)."
            exit 0 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
[[ "$dir" == /* ]] || dir="$PWD/$dir"
info="$dir/.memproxy-root-info"
[[ -f "$info" ]] || die "no root at $dir; build it with ci/platform/build-root.sh"
for tool in gcc g++ nm dpkg-query; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on the host"
done

info_get() { sed -n "s/^$1=//p" "$info"; }
release="$(info_get release)"
out="$TOP/target/platforms/smoke"
report="$out/report-$release.txt"
mkdir -p "$out"

if [[ "$cargo" -eq 1 ]]; then
    (cd "$TOP" && cargo build --release -p memproxy) || die "cargo build --release -p memproxy failed"
fi
memproxy="${CARGO_TARGET_DIR:-$TOP/target}/release/libmemproxy.so"

# ---- build the probes on the host -------------------------------------------
gcc -O2 -Wall -Wextra -o "$out/alloc_probe_c" "$SCRIPT_DIR/smoke/alloc_probe.c"
g++ -O2 -Wall -Wextra -pthread -o "$out/alloc_probe_cxx" "$SCRIPT_DIR/smoke/alloc_probe.cc"
gcc -O2 -Wall -Wextra -o "$out/strdup_probe" "$SCRIPT_DIR/smoke/strdup_probe.c"
printf 'strdup_probe\n' >"$out/exclude-strdup_probe.conf"

# Host allocator libraries, found as build-root.sh finds the root's.
host_multiarch="$(gcc -print-multiarch)"
host_lib() {
    local lib base
    for lib in "/usr/lib/$host_multiarch/lib$1.so."*; do
        base="${lib##*/}"
        if [[ "$base" =~ ^lib${1}\.so\.[0-9]+$ ]]; then
            printf '%s\n' "$lib"
            return 0
        fi
    done
    return 0
}
root_lib() { info_get "lib.$1"; }

failures=0
findings=0
exec > >(tee "$report")

host_desc="$(. /etc/os-release && echo "$VERSION_CODENAME") glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
root_desc="$release glibc $(info_get glibc)"
echo "== platforms"
echo "host: $host_desc ($(cat /etc/debian_version))"
echo "root: $root_desc ($(info_get debian_version)) at $dir, built $(info_get built_at)"
echo

# ---- package versions --------------------------------------------------------
echo "== packages (dpkg-query -W)"
host_pkgs="$(dpkg-query -W -f='${Package} ${Version}\n' libc6 libstdc++6 libgcc-s1 \
    'libjemalloc*' 'libmimalloc*' 'libtcmalloc*' 'libgoogle-perftools*' 2>/dev/null |
    awk '$2 != "" && $1 !~ /-dev$/')"
# shellcheck disable=SC2016 # dpkg-query's own ${...} format
root_pkgs="$("$RUN" "$dir" -- dpkg-query -W -f='${Package} ${Version}\n' libc6 libstdc++6 libgcc-s1 \
    'libjemalloc*' 'libmimalloc*' 'libtcmalloc*' 'libgoogle-perftools*' 2>/dev/null |
    awk '$2 != "" && $1 !~ /-dev$/')" || true
printf '%-26s %-30s | %s\n' "host package" "version" "root package version"
paste -d'|' <(printf '%s\n' "$host_pkgs") <(printf '%s\n' "$root_pkgs") |
    awk -F'|' '{ split($1, h, " "); printf "%-26s %-30s | %s\n", h[1], h[2], $2 }'
echo

# ---- probes -------------------------------------------------------------------
# run_probe LABEL EXPECTED_LIB -- CMD...: prints one line; counts a failure when
# the probe fails or malloc is not served by EXPECTED_LIB.
run_probe() {
    local label="$1" expect="$2" output status
    shift 3
    status=0
    output="$("$@" 2>&1)" || status=$?
    output="${output//$'\n'/ }"
    local verdict="ok"
    if [[ "$status" -ne 0 ]]; then
        verdict="FAIL(exit $status)"
    elif [[ -n "$expect" && "$output" != *"malloc_from=$expect"* && "$output" != *"malloc_from=${expect/\/usr\/lib\//\/lib\/}"* ]]; then
        verdict="FAIL(malloc not from $expect)"
    fi
    [[ "$verdict" == ok ]] || failures=$((failures + 1))
    printf '%-36s %-4s %s\n' "$label" "$verdict" "$output"
}

echo "== probes (host-built: $out/alloc_probe_c, alloc_probe_cxx)"
for probe in alloc_probe_c alloc_probe_cxx; do
    run_probe "host   $probe" "" -- "$out/$probe"
    run_probe "root   $probe" "" -- "$RUN" "$dir" -- "$out/$probe"
    for name in "${ALLOCATORS[@]}"; do
        lib="$(host_lib "$name")"
        if [[ -n "$lib" ]]; then
            run_probe "host   $probe +$name" "$lib" -- env LD_PRELOAD="$lib" "$out/$probe"
        fi
        lib="$(root_lib "$name")"
        if [[ -n "$lib" ]]; then
            run_probe "root   $probe +$name" "$lib" -- "$RUN" "$dir" --env LD_PRELOAD="$lib" -- "$out/$probe"
        fi
    done
done
echo
echo "== ldd inside the root of a host-built binary"
"$RUN" "$dir" -- ldd "$out/alloc_probe_cxx" 2>&1 | sed 's/ (0x[0-9a-f]*)//'
echo

# ---- memproxy ---------------------------------------------------------------
echo "== memproxy: MEMPROXY_DEBUG=1 LD_PRELOAD=libmemproxy.so:ALLOCATOR /bin/true"
if [[ ! -f "$memproxy" ]]; then
    echo "skipped: $memproxy not built (cargo build --release -p memproxy, or --cargo)"
    failures=$((failures + 1))
else
    for name in "${ALLOCATORS[@]}"; do
        for where in host root; do
            if [[ "$where" == host ]]; then
                lib="$(host_lib "$name")"
            else
                lib="$(root_lib "$name")"
            fi
            [[ -n "$lib" ]] || continue
            status=0
            if [[ "$where" == host ]]; then
                line="$(env MEMPROXY_DEBUG=1 LD_PRELOAD="$memproxy:$lib" /bin/true 2>&1)" || status=$?
            else
                line="$("$RUN" "$dir" --env MEMPROXY_DEBUG=1 --env LD_PRELOAD="$memproxy:$lib" -- /bin/true 2>&1)" || status=$?
            fi
            verdict="ok"
            if [[ "$status" -ne 0 ]]; then
                verdict="FAIL(exit $status)"
            elif [[ "$line" != *"route=custom"*"allocator=\"$lib\""* ]]; then
                verdict="FAIL(not routed to $lib)"
            fi
            [[ "$verdict" == ok ]] || failures=$((failures + 1))
            printf '%s %-17s %s\n  %s\n' "$where" "$name" "$verdict" "${line//$'\n'/ | }"
        done
    done
fi
echo

# ---- memproxy findings ---------------------------------------------------------
# Not platform failures: behaviour of memproxy that differs between the
# platforms. Counted apart; --strict makes them fail the run.
echo "== memproxy: strdup/strndup + free in a program memproxy routes to glibc (excluded) or to the allocator"
if [[ -f "$memproxy" ]]; then
    for name in "${ALLOCATORS[@]}"; do
        for where in host root; do
            for mode in excluded routed; do
                conf=()
                [[ "$mode" == excluded ]] && conf=(MEMPROXY_CONF="$out/exclude-strdup_probe.conf")
                if [[ "$where" == host ]]; then
                    lib="$(host_lib "$name")"
                    [[ -n "$lib" ]] || continue
                    cmd=(env "${conf[@]}" LD_PRELOAD="$memproxy:$lib" "$out/strdup_probe")
                else
                    lib="$(root_lib "$name")"
                    [[ -n "$lib" ]] || continue
                    cmd=("$RUN" "$dir" -- env "${conf[@]}" LD_PRELOAD="$memproxy:$lib" "$out/strdup_probe")
                fi
                status=0
                output="$("${cmd[@]}" 2>&1)" || status=$?
                verdict="ok"
                if [[ "$status" -ne 0 ]]; then
                    verdict="FAIL(exit $status)"
                    findings=$((findings + 1))
                fi
                output="$(printf '%s\n' "$output" | grep -v '^strdup: result=' | sed 's/^strdup: //' | paste -sd' ' -)"
                printf '%s %-17s %-8s %-12s %s\n' "$where" "$name" "$mode" "$verdict" "$output"
            done
        done
    done
else
    echo "skipped: $memproxy not built"
fi
echo

# ---- symbols ------------------------------------------------------------------
# defined_symbols FILE: the names of SYMBOLS that FILE defines (nm -D --defined-only).
defined_symbols() {
    { nm -D --defined-only "$1" 2>/dev/null || true; } | awk '{ print $NF }' | sed 's/@.*//' | LC_ALL=C sort -u
}
echo "== malloc-family symbols defined (nm -D --defined-only): host | root"
header="$(printf '%-24s' symbol)"
columns=()
for name in "${ALLOCATORS[@]}"; do
    host_file="$(host_lib "$name")"
    root_file="$(root_lib "$name")"
    if [[ -n "$root_file" ]]; then
        root_file="$dir$root_file"
    fi
    defined_symbols "${host_file:-/dev/null}" >"$out/syms-host-$name"
    defined_symbols "${root_file:-/dev/null}" >"$out/syms-$release-$name"
    columns+=("$name")
    header+="$(printf ' %-17s' "$name")"
done
printf '%s\n' "$header"
for symbol in "${SYMBOLS[@]}"; do
    row="$(printf '%-24s' "$symbol")"
    differs=""
    for name in "${columns[@]}"; do
        h="-"; r="-"
        grep -qxF "$symbol" "$out/syms-host-$name" && h="y"
        grep -qxF "$symbol" "$out/syms-$release-$name" && r="y"
        [[ "$h" == "$r" ]] || differs=" <- differs"
        row+="$(printf ' %-17s' "$h | $r")"
    done
    printf '%s%s\n' "$row" "$differs"
done
echo
echo "== other exported C names and C++ operators that differ (nm -D --defined-only; C++ internals left out)"
for name in "${columns[@]}"; do
    host_only="$(comm -23 "$out/syms-host-$name" "$out/syms-$release-$name" | { grep -Ev '^_Z[^nd]' || true; } | paste -sd' ' -)"
    root_only="$(comm -13 "$out/syms-host-$name" "$out/syms-$release-$name" | { grep -Ev '^_Z[^nd]' || true; } | paste -sd' ' -)"
    printf '%-17s host only: %s\n%-17s %s only: %s\n' "$name" "${host_only:--}" "" "$release" "${root_only:--}"
done
echo
if [[ "$failures" -eq 0 ]]; then
    echo "smoke: all platform checks passed; $findings memproxy finding(s) (report: $report)"
else
    echo "smoke: $failures platform check(s) FAILED; $findings memproxy finding(s) (report: $report)"
fi
[[ "$failures" -eq 0 && ( "$strict" -eq 0 || "$findings" -eq 0 ) ]]
