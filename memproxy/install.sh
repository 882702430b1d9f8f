#!/usr/bin/env bash
# Builds and installs memproxy, like the original's `make install-strip`:
#
#   PREFIX=/usr/local DESTDIR= memproxy/install.sh
#
# - $DESTDIR$PREFIX/lib/libmemproxy.so   the preload library, stripped
# - $DESTDIR$PREFIX/bin/memproxy         the admin command, stripped
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
MEMPROXY_PREFIX=$prefix cargo build --release --manifest-path "$top/Cargo.toml" \
    --target-dir "$target" -p memproxy -p memproxy-cli

install -d "$destdir$prefix/lib" "$destdir$prefix/bin" "$destdir$prefix/etc"
install -m 0755 -s "$target/release/libmemproxy.so" "$destdir$prefix/lib/libmemproxy.so"
install -m 0755 -s "$target/release/memproxy" "$destdir$prefix/bin/memproxy"
config="$destdir$prefix/etc/memproxy.conf"
if [[ -e "$config" || -L "$config" ]]; then
    echo "kept existing $config"
else
    install -m 0644 "$top/memproxy/memproxy.conf.sample" "$config"
fi
echo "installed $destdir$prefix/lib/libmemproxy.so (default config: $prefix/etc/memproxy.conf)"
