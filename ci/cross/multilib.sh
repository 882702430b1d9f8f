#!/usr/bin/env bash
# One /etc/ld.so.preload line for both word sizes, on a multilib host.
#
#   ci/cross/multilib.sh
#
# The Debian 13 cross root is such a host: amd64, with the i386 C library and
# allocators installed (ci/cross/packages.sh). In a private mount namespace
# there, memproxy is installed by memproxy/install.sh with the i686 build
# added (--with-library), so each class finds its own build through ld.so's
# $LIB token, and /etc/ld.so.preload holds the one line the README gives:
#
#   /usr/local/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2
#
# A 64-bit and a 32-bit program, each under an excluded and an included name,
# must then be served by glibc and by jemalloc respectively, as the
# allocators themselves tell (fixtures/c/oracle.h), with nothing on stderr.
# The same four runs with a 64-bit-only line must print ld.so's "wrong ELF
# class" complaint in the 32-bit programs: that is the stray line this set-up
# avoids, and it shows the stderr check can fail.
#
# Builds what it needs (the host library through install.sh, the i686 one
# with ci/cross/build.sh). Nothing outside target/ and the namespace changes.
# Exit status: 0 when every check passed, 1 when one failed, 2 on a set-up
# error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
top="$(cd "$here/../.." && pwd -P)"
target_dir="${CARGO_TARGET_DIR:-$top/target}"
work="$target_dir/cross/multilib"
rm -rf "$work"
mkdir -p "$work/stage" "$work/bin"

i686=i686-unknown-linux-gnu
"$here/build.sh" --target "$i686" --group lib >/dev/null || {
    echo "multilib.sh: the i686 library did not build; see $target_dir/cross/errors.md" >&2
    exit 2
}
# The layout an admin gets: install.sh with the prefix the i686 build has
# baked in (/usr/local, build.sh's default).
DESTDIR="$work/stage" PREFIX=/usr/local "$top/memproxy/install.sh" \
    --with-library "$target_dir/cross/build/$i686/release/libmemproxy.so" >"$work/install.log" 2>&1 || {
    cat "$work/install.log" >&2
    echo "multilib.sh: install.sh failed" >&2
    exit 2
}
for tuple in x86_64-linux-gnu i386-linux-gnu; do
    [[ -f "$work/stage/usr/local/lib/$tuple/libmemproxy.so" ]] || {
        echo "multilib.sh: install.sh put no library in /usr/local/lib/$tuple/" >&2
        exit 2
    }
done

# The program, for both classes, compiled in the cross root.
source_dir="$top/fixtures/c"
"$here/run.sh" --target "$i686" --in cross -- /bin/sh -c '
    set -e
    gcc -O2 -o "$2/owner64" "$1/multilib/owner.c" "$1/oracle.c" -ldl
    i686-linux-gnu-gcc -O2 -o "$2/owner32" "$1/multilib/owner.c" "$1/oracle.c" -ldl
' sh "$source_dir" "$work/bin" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    echo "multilib.sh: building the owner program failed" >&2
    exit 2
}
for bits in 64 32; do
    for name in owner-excluded owner-included; do
        mkdir -p "$work/bin/$bits"
        cp "$work/bin/owner$bits" "$work/bin/$bits/$name"
    done
done
printf 'owner-excluded\n' >"$work/stage/usr/local/etc/memproxy.conf"
printf '%s\n' '/usr/local/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2' >"$work/preload-lib"
printf '%s\n' '/usr/local/lib/libmemproxy.so /usr/lib/x86_64-linux-gnu/libjemalloc.so.2' >"$work/preload-64"

# Inside the root's private namespace: the staged /usr/local and a preload
# file bound in place, then each program with its stdout and stderr kept.
inner='
    set -e
    work=$1 preload=$2 out=$3
    mount --bind "$work/stage/usr/local" /usr/local
    # A copy of /etc with the preload file in it: the root has none to
    # bind over, and its own /etc stays as it is.
    rm -rf "$work/etc" && cp -a /etc "$work/etc" && cp "$preload" "$work/etc/ld.so.preload"
    mount --bind "$work/etc" /etc
    for bits in 64 32; do
        for name in owner-excluded owner-included; do
            GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "$work/bin/$bits/$name" \
                >"$out.$bits.$name.out" 2>"$out.$bits.$name.err" || echo "exit $?" >>"$out.$bits.$name.err"
        done
    done
'
for preload in lib 64; do
    "$here/run.sh" --target "$i686" --in cross -- /bin/sh -c "$inner" sh \
        "$work" "$work/preload-$preload" "$work/run-$preload" >"$work/run-$preload.log" 2>&1 || {
        cat "$work/run-$preload.log" >&2
        echo "multilib.sh: the runs with preload-$preload could not be made" >&2
        exit 2
    }
done

status=0
check() {
    local what=$1 expected=$2 actual=$3
    if [[ "$actual" == "$expected" ]]; then
        printf 'ok    %s\n' "$what"
    else
        printf 'FAIL  %s: expected %q, got %q\n' "$what" "$expected" "$actual"
        status=1
    fi
}
echo "one line, \$LIB: $(cat "$work/preload-lib")"
for bits in 64 32; do
    for name in owner-excluded owner-included; do
        [[ $name == owner-excluded ]] && owner=glibc || owner=jemalloc
        run="$work/run-lib.$bits.$name"
        check "$bits-bit $name: served by $owner" "bits=$bits owner=$owner" "$(cat "$run.out")"
        check "$bits-bit $name: nothing on stderr" "" "$(cat "$run.err")"
    done
done
echo "control, a 64-bit-only line: $(cat "$work/preload-64")"
for name in owner-excluded owner-included; do
    err=$(cat "$work/run-64.32.$name.err")
    if [[ "$err" == *"wrong ELF class: ELFCLASS64"* ]]; then
        printf 'ok    32-bit %s: ld.so complains on stderr, as expected without $LIB\n' "$name"
    else
        printf 'FAIL  32-bit %s: no "wrong ELF class" line without $LIB: %q\n' "$name" "$err"
        status=1
    fi
    check "64-bit $name: nothing on stderr" "" "$(cat "$work/run-64.64.$name.err")"
done
exit "$status"
