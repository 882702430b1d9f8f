#!/usr/bin/env bash
# Builds and installs memproxy, like the original's `make install-strip`:
#
#   PREFIX=/usr/local DESTDIR= memproxy/install.sh
#
# - $DESTDIR$PREFIX/lib/libmemproxy.so   the preload library, stripped
# - $DESTDIR$PREFIX/bin/memproxy         the admin command, stripped and linked
#                                        statically: ld.so never runs for it, so
#                                        `memproxy disable` works even when
#                                        /etc/ld.so.preload breaks every
#                                        dynamically linked program
# - $DESTDIR$PREFIX/etc/memproxy.conf    a commented sample, only if absent
#
# The library's default config path is fixed at build time to
# $PREFIX/etc/memproxy.conf, so the build happens here, with that prefix, in
# its own target directory (target/install), never disturbing target/release.
set -euo pipefail

prefix=${PREFIX:-/usr/local}
prefix=${prefix%/}
destdir=${DESTDIR:-}
case "$prefix" in
    /*) ;;
    *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;;
esac

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

install -d "$destdir$prefix/lib" "$destdir$prefix/bin" "$destdir$prefix/etc"
install -m 0755 -s "$target/release/libmemproxy.so" "$destdir$prefix/lib/libmemproxy.so"
install -m 0755 -s "$target/$host/release/memproxy" "$destdir$prefix/bin/memproxy"
config="$destdir$prefix/etc/memproxy.conf"
if [[ -e "$config" || -L "$config" ]]; then
    echo "kept existing $config"
else
    install -m 0644 "$top/memproxy/memproxy.conf.sample" "$config"
fi
echo "installed $destdir$prefix/lib/libmemproxy.so (default config: $prefix/etc/memproxy.conf)"
