#!/usr/bin/env bash
# Vendors the workspace's crates (Cargo.lock) on the host, for the cargo
# inside the cross root, which builds offline: the root's cargo may not trust
# the certificate store the host uses to reach the crate registry.
#
#   ci/cross/vendor.sh ROOT
#
# The tree goes into the root itself, ROOT/var/cache/memproxy-vendor/<hash of
# Cargo.lock>, so a fresh clone reuses it and the root's cargo sees it without
# an extra mount; it is never in the repository. Prints the path as seen
# inside the root. Reused while Cargo.lock is unchanged; a rebuilt root gets
# it again (about 5 s, from the host's registry cache).
set -euo pipefail

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
root="${1:?usage: ci/cross/vendor.sh ROOT}"
[[ -f "$root/.memproxy-root-ready" ]] || { echo "vendor.sh: $root is not a finished root" >&2; exit 1; }
lock="$top/Cargo.lock"
hash="$(sha256sum "$lock" | cut -c1-16)"
inside="/var/cache/memproxy-vendor/$hash"
dest="$root$inside"

if [[ ! -f "$dest/.complete" ]]; then
    mkdir -p "$root/var/cache/memproxy-vendor"
    exec 8>"$root/var/cache/memproxy-vendor/.lock"
    flock -w 600 8
    if [[ ! -f "$dest/.complete" ]]; then
        tmp="$dest.partial"
        rm -rf --one-file-system -- "$tmp"
        started=$SECONDS
        # --locked: exactly the versions of Cargo.lock. The host's cargo
        # fetches what its registry cache lacks.
        if ! cargo vendor --locked --versioned-dirs --manifest-path "$top/Cargo.toml" "$tmp" \
            >/dev/null 2>"$dest.log"; then
            tail -n 20 "$dest.log" >&2
            echo "vendor.sh: cargo vendor failed (log: $dest.log)" >&2
            exit 1
        fi
        touch "$tmp/.complete"
        rm -rf --one-file-system -- "$dest"
        mv -T "$tmp" "$dest"
        # Older trees of other Cargo.lock versions.
        find "$root/var/cache/memproxy-vendor" -mindepth 1 -maxdepth 1 -type d \
            ! -name "$hash" -exec rm -rf --one-file-system -- {} +
        echo "vendor.sh: vendored into $dest in $((SECONDS - started)) s" >&2
    fi
fi
printf '%s\n' "$inside"
