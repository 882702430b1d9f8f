#!/bin/sh
# Runs INSIDE the cross root (ci/cross/build.sh, group "c"): compiles every C
# and C++ source of fixtures/c with each cross compiler, with the flags of
# fixtures/build.rs, and prints each compiler's diagnostics. build.rs stops
# at the first fixture that fails; this lists them all.
#
#   c-sweep.sh TOP TRIPLET...
set -u
top="$1"
shift
status=0
for triplet in "$@"; do
    for src in $(cd "$top" && find fixtures/c -name '*.c' -o -name '*.cpp' | LC_ALL=C sort); do
        case "$src" in
            *.cpp) cc="$triplet-g++"; std="-std=gnu++17 -fno-allocation-dce" ;;
            *) cc="$triplet-gcc"; std="-std=gnu11" ;;
        esac
        variants="-DMEMPROXY_SWEEP"
        case "$src" in
            */audit.c) variants="$variants -DSETUP_AUDIT_BINDINGS" ;;
            */tls_module.c) variants="$variants -DSTRESS_TLS_SMALL" ;;
        esac
        for define in $variants; do
            # shellcheck disable=SC2086 # word splitting of the flag lists wanted
            # probe.cpp needs the plugin path build.rs bakes in.
            if ! out="$($cc -O2 -Wall -Wextra -fno-builtin $std -pthread -fPIC "$define" \
                '-DPROBE_PLUGIN_DEFAULT_PATH="/nonexistent/libprobe-plugin.so"' \
                -I "$top/fixtures/c" -c "$top/$src" -o /dev/null 2>&1)"; then
                status=1
                printf '%s\n' "$out" | sed "s|^|$triplet: |"
                printf '%s: FAILED %s %s (%s)\n' "$triplet" "$src" "$cc" "$define"
            elif [ -n "$out" ]; then
                printf '%s\n' "$out" | sed "s|^|$triplet: |"
            fi
        done
    done
done
exit "$status"
