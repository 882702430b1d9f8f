#!/usr/bin/env bash
# Builds and installs memproxy, like the original's `make install-strip`:
#
#   PREFIX=/usr/local DESTDIR= memproxy/install.sh [--with-library PATH]...
#
# - $DESTDIR$PREFIX/lib/<tuple>/libmemproxy.so
#                                        the preload library built for this
#                                        host, stripped, in Debian's multiarch
#                                        directory for its architecture
#                                        (<tuple> is x86_64-linux-gnu on
#                                        amd64): where ld.so's $LIB token
#                                        finds it (see below)
# - $DESTDIR$PREFIX/lib/libmemproxy.so   a relative symlink to that file, so
#                                        that set-ups naming this path keep
#                                        working
# - $DESTDIR$PREFIX/bin/memproxy         the admin command, stripped and linked
#                                        statically: ld.so never runs for it, so
#                                        `memproxy disable` works even when
#                                        /etc/ld.so.preload breaks every
#                                        dynamically linked program
# - $DESTDIR$PREFIX/etc/memproxy.conf    a commented sample, only if absent
#
# --with-library PATH (repeatable) also installs a libmemproxy.so built for
# another architecture, e.g. the i686 one from
# `ci/cross/build.sh --target i686-unknown-linux-gnu --group lib`
# (target/cross/build/i686-unknown-linux-gnu/release/libmemproxy.so), into
# $DESTDIR$PREFIX/lib/<its tuple>/ (lib/i386-linux-gnu for i686). Its tuple
# comes from its ELF class and machine, through the architecture table the
# command shares with `memproxy doctor` (`memproxy lib-dir PATH`). It is
# refused, before anything is installed, if it is not a libmemproxy.so, if
# its architecture is not in the table, if it is for the same architecture
# as another library being installed, or if its built-in config path is not
# $PREFIX/etc/memproxy.conf (build it with the same MEMPROXY_PREFIX).
#
# ld.so expands $LIB in a preload entry to lib/<tuple> of the program being
# started (lib/x86_64-linux-gnu for 64-bit x86 programs, lib/i386-linux-gnu
# for 32-bit ones, on Debian), so on a multilib host one /etc/ld.so.preload
# line serves both word sizes:
#
#   /usr/local/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2
#
# (32-bit programs then need libjemalloc2:i386 and the i686 library.)
#
# The library's default config path is fixed at build time to
# $PREFIX/etc/memproxy.conf, so the build happens here, with that prefix, in
# its own target directory (target/install), never disturbing target/release.
set -euo pipefail

usage() {
    echo "usage: PREFIX=/usr/local DESTDIR= memproxy/install.sh [--with-library PATH]..." >&2
    exit 2
}

extra_libraries=()
while (($#)); do
    case "$1" in
        --with-library)
            (($# >= 2)) || usage
            extra_libraries+=("$2")
            shift 2
            ;;
        --with-library=*) extra_libraries+=("${1#*=}"); shift ;;
        -h | --help) sed -n '2,48p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

prefix=${PREFIX:-/usr/local}
prefix=${prefix%/}
destdir=${DESTDIR:-}
case "$prefix" in
    /*) ;;
    *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;;
esac
for library in "${extra_libraries[@]}"; do
    if [[ ! -f "$library" ]]; then
        echo "install.sh: --with-library $library: no such file" >&2
        exit 2
    fi
done

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$top/target}/install
cargo=${CARGO:-cargo}
MEMPROXY_PREFIX=$prefix "$cargo" build --release --manifest-path "$top/Cargo.toml" \
    --target-dir "$target" -p memproxy
# The command, with glibc linked statically. The explicit --target (this
# host's) keeps RUSTFLAGS away from build scripts and proc macros, which
# must stay dynamic. The link gives none of glibc's static-linking warnings
# (the command calls no getpwnam, getaddrinfo or dlopen, which would need
# the shared libraries of the same glibc at run time), and `disable` opens
# nothing but the preload files.
host=$("${RUSTC:-rustc}" -vV | sed -n 's/^host: //p')
MEMPROXY_PREFIX=$prefix RUSTFLAGS="-C target-feature=+crt-static" \
    "$cargo" build --release --manifest-path "$top/Cargo.toml" \
    --target-dir "$target" --target "$host" -p memproxy-cli
command="$target/$host/release/memproxy"

# Every library's place, decided (and every refusal made) before anything
# is installed. The command was built with this prefix, so `lib-dir` checks
# each library's built-in config path against $PREFIX/etc/memproxy.conf.
libraries=("$target/release/libmemproxy.so" "${extra_libraries[@]}")
lib_dirs=()
for library in "${libraries[@]}"; do
    if ! lib_dir=$("$command" lib-dir "$library"); then
        echo "install.sh: refusing $library (see above); nothing was installed" >&2
        exit 1
    fi
    for seen in "${!lib_dirs[@]}"; do
        if [[ "${lib_dirs[$seen]}" == "$lib_dir" ]]; then
            echo "install.sh: $library and ${libraries[$seen]} are both for $lib_dir;" \
                "nothing was installed" >&2
            exit 1
        fi
    done
    lib_dirs+=("$lib_dir")
done

# Strips with the host's strip, else the architecture's own (binutils-
# <tuple> installs <tuple>-strip); installs unstripped, saying so, when
# neither knows the format.
install_library() {
    local library=$1 lib_dir=$2
    local tuple=${lib_dir#lib/} destination="$destdir$prefix/$lib_dir/libmemproxy.so"
    install -d "$destdir$prefix/$lib_dir"
    install -m 0755 "$library" "$destination"
    local strip
    for strip in "${STRIP:-strip}" "$tuple-strip"; do
        if command -v "$strip" >/dev/null && "$strip" "$destination" 2>/dev/null; then
            return
        fi
    done
    echo "install.sh: $destination is not stripped: no strip here knows $tuple" \
        "(apt-get install binutils-$tuple)" >&2
}

install -d "$destdir$prefix/lib" "$destdir$prefix/bin" "$destdir$prefix/etc"
for index in "${!libraries[@]}"; do
    install_library "${libraries[$index]}" "${lib_dirs[$index]}"
done
# The host's library under its old name too; relative, so that it stays
# right under any DESTDIR and in a chroot.
ln -sfn "${lib_dirs[0]#lib/}/libmemproxy.so" "$destdir$prefix/lib/libmemproxy.so"
install -m 0755 -s "$command" "$destdir$prefix/bin/memproxy"
config="$destdir$prefix/etc/memproxy.conf"
if [[ -e "$config" || -L "$config" ]]; then
    echo "kept existing $config"
else
    install -m 0644 "$top/memproxy/memproxy.conf.sample" "$config"
fi
for lib_dir in "${lib_dirs[@]}"; do
    echo "installed $destdir$prefix/$lib_dir/libmemproxy.so"
done
echo "  ($destdir$prefix/lib/libmemproxy.so -> ${lib_dirs[0]#lib/}/libmemproxy.so;" \
    "default config: $prefix/etc/memproxy.conf)"
echo "  one preload line for every installed architecture: $prefix/\$LIB/libmemproxy.so"
