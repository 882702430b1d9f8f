#!/usr/bin/env bash
# Builds, or reuses from the cache, the bootable Debian image of one release
# for ci/boot/run.sh, and prints its directory:
#
#   ci/boot/image.sh --release trixie
#
# The directory holds disk.img (ext4, the whole root, made with mkfs.ext4 -d),
# vmlinuz and initrd.img (from the root's /boot) and inputs (what the key was
# computed from). The root comes from ci/platform/build-root.sh; memproxy is
# installed into it by memproxy/install.sh (PREFIX=/usr/local); the image has
# no /etc/ld.so.preload: run.sh writes one into each boot's copy. The cache
# key covers everything that goes in, so a change to any of it builds a new
# image. See ci/boot/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
# shellcheck source=ci/boot/lib.sh
. "$here/lib.sh"

release=trixie
while (($#)); do
    case "$1" in
        --release) release=${2:?--release needs a value}; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, and images owned by root)"
[[ -n "$(allocator_files "$release")" ]] ||
    die "no allocators for '$release' in $known_allocators"

# The system the issue asks for: systemd as PID 1, udev, dbus, logind, cron
# and sshd, a kernel and an initramfs to boot it.
root_packages=(systemd systemd-sysv udev dbus linux-image-amd64 initramfs-tools cron openssh-server)
root=$cache/roots/$release
add=()
for package in "${root_packages[@]}"; do add+=(--add "$package"); done
"$top/ci/platform/build-root.sh" --release "$release" --dir "$root" \
    --cache-dir "$cache/../debs/$release" "${add[@]}" >&2

# memproxy as install.sh installs it, into a staging tree first, so its files
# can be part of the key.
install_dir=$top/target/boot/install
rm -rf "$install_dir"
PREFIX=/usr/local DESTDIR=$install_dir "$top/memproxy/install.sh" >&2
# The broken allocator of the rescue drill, harmless unless preloaded.
crash_lib=$top/target/boot/libcrash-ctor.so
gcc -shared -fPIC -O2 -o "$crash_lib" "$top/fixtures/c/lifecycle/crash_ctor.c"

inputs=$(
    cd "$top"
    echo "root $(tr '\n' ' ' <"$root/.memproxy-root-ready")"
    grep '^built_at=' "$root/.memproxy-root-info"
    sha256sum ci/boot/image.sh ci/boot/lib.sh ci/boot/guest/* fixtures/c/lifecycle/crash_ctor.c
    (cd "$install_dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
)
key=$(sha256sum <<<"$inputs" | cut -c1-16)
image=$cache/images/$release-$key
if [[ -f $image/ready ]]; then
    log "image $image is cached"
    # Marks it as in use, for the pruning below.
    touch "$image/ready"
    echo "$image"
    exit 0
fi

mkdir -p "$cache/images"
exec 8>"$cache/images/$release.lock"
flock -w 1800 8 || die "timed out waiting for another build of the $release image"
if [[ -f $image/ready ]]; then
    echo "$image"
    exit 0
fi
started=$(date +%s)
partial=$image.partial
rm -rf --one-file-system "$partial"
mkdir -p "$partial"
tree=$partial/tree
cp -a "$root" "$tree"
rm -f "$tree/.memproxy-root-ready" "$tree/.memproxy-root-info"
cp -a "$install_dir/." "$tree/"
install -m 0755 "$crash_lib" "$tree/usr/local/lib/libcrash-ctor.so"
install -m 0644 "$here/guest/memproxy.conf" "$tree/usr/local/etc/memproxy.conf"
install -m 0755 "$here/guest/boot-report" "$tree/usr/local/sbin/boot-report"
install -m 0644 "$here/guest/boot-report.service" "$tree/etc/systemd/system/boot-report.service"
ln -sf /etc/systemd/system/boot-report.service \
    "$tree/etc/systemd/system/multi-user.target.wants/boot-report.service"
echo "boot-$release" >"$tree/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' >"$tree/etc/fstab"
rm -f "$tree/etc/ld.so.preload"
cp "$tree"/boot/vmlinuz-* "$partial/vmlinuz"
cp "$tree"/boot/initrd.img-* "$partial/initrd.img"
# Room for the journal and the report; the file is sparse.
truncate -s 3G "$partial/disk.img"
mkfs.ext4 -q -F -L "boot-$release" -d "$tree" "$partial/disk.img"
rm -rf --one-file-system "$tree"
printf '%s\n' "$inputs" >"$partial/inputs"
touch "$partial/ready"
# Older images of the release go once unused for two hours: another
# checkout (another key) may still be booting one.
for old in "$cache/images/$release"-*; do
    [[ $old != "$partial" && -d $old ]] || continue
    if [[ ! -f $old/ready || -n $(find "$old/ready" -mmin +120) ]]; then
        rm -rf --one-file-system "$old"
    fi
done
mv -T "$partial" "$image"
log "image $image built in $(($(date +%s) - started)) s ($(du -sh "$image/disk.img" | cut -f1) used)"
echo "$image"
