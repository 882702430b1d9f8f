#!/usr/bin/env bash
# Runs a command with aarch64 ELF programs executable through qemu-user, by a
# binfmt_misc entry that exists only for that command: no host-global state.
#
#   ci/cross/qemu-binfmt.sh [--qemu PATH] [--name NAME] [--share-net] -- CMD [ARG...]
#
# How: the command runs in a new user namespace (uids and gids 0-65535 mapped
# to themselves, so file ownership is unchanged) with its own mount and PID
# namespaces. Linux >= 6.7 gives a user namespace that mounts binfmt_misc an
# instance of its own; the entry is registered there, with flags:
#   F  the interpreter is opened now, from the host's view, so it works
#      inside any chroot, whether or not the root has qemu;
#   P  argv[0] is passed on unchanged (qemu sees it through AT_FLAGS), so a
#      program started under another argv[0] keeps it.
# The interpreter must be a static qemu (Debian 13's qemu-user is): a
# dynamically linked x86_64 qemu would itself be subject to LD_PRELOAD and
# /etc/ld.so.preload, meant for the aarch64 program, and print
# "ERROR: ld.so: object ... cannot be preloaded" lines, or preload them.
# With a static qemu only the guest's ld.so reads them.
# The command gets its own network namespace (loopback only), which also lets
# run-in-root.sh mount a sysfs. --share-net keeps the host's network (for
# debootstrap and apt); /sys is then an empty tmpfs (a user namespace may
# neither mount a sysfs of another network namespace nor bind the host's
# /sys without its submounts).
# Everything (instance, entry, mounts) ends with the command's last process;
# the host's binfmt_misc is never touched. See ci/cross/README.md.
#
# Default qemu: $MEMPROXY_CROSS_QEMU, else the cross root's
# usr/bin/qemu-aarch64 (ci/cross/build-root.sh), else /usr/bin/qemu-aarch64-static.
set -euo pipefail

die() { printf 'qemu-binfmt: error: %s\n' "$*" >&2; exit 125; }

# ---- inner half: in the new namespaces ----------------------------------
if [[ "${1:-}" == "--inner" ]]; then
    qemu="$2" name="$3" share_net="$4"
    shift 4
    if [[ "$share_net" -eq 1 ]]; then
        mount -t tmpfs -o ro,size=4k,mode=755 memproxy-no-sysfs /sys
    fi
    mnt=/proc/sys/fs/binfmt_misc
    # This user namespace's own instance (not the host's, even if mounted).
    mount -t binfmt_misc binfmt_misc "$mnt" ||
        die "cannot mount a binfmt_misc instance in a user namespace (needs Linux >= 6.7)"
    [[ "$(cat "$mnt/status")" == enabled ]] || die "binfmt_misc instance is disabled"
    # ELF64, little endian, current version, ET_EXEC or ET_DYN, EM_AARCH64
    # (the magic and mask of Debian's qemu-user-binfmt).
    magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    printf ':%s:M::%s:%s:%s:FP' "$name" "$magic" "$mask" "$qemu" >"$mnt/register" ||
        die "registering $qemu in the private binfmt_misc instance failed"
    # The mount stays: unmounting it would drop the instance and its entry.
    # A command that chroots (run-in-root.sh) no longer sees it.
    exec "$@"
fi

# ---- outer half -----------------------------------------------------------
qemu="${MEMPROXY_CROSS_QEMU:-}"
name="memproxy-qemu-aarch64"
share_net=0
while [[ $# -gt 0 && "$1" != "--" ]]; do
    case "$1" in
        --qemu) qemu="$2"; shift 2 ;;
        --name) name="$2"; shift 2 ;;
        --share-net) share_net=1; shift ;;
        -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "${1:-}" == "--" ]] || die "expected '--' and then the command (see --help)"
shift
[[ $# -ge 1 ]] || die "missing the command after '--'"
[[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad entry name '$name'"
[[ "$(id -u)" -eq 0 ]] || die "must run as root (user namespace with a 0-65535 identity map)"

if [[ -z "$qemu" ]]; then
    cache="${MEMPROXY_CI_CACHE:-/var/cache/memproxy-ci}"
    for candidate in "$cache/roots/trixie-cross/usr/bin/qemu-aarch64" /usr/bin/qemu-aarch64-static; do
        if [[ -x "$candidate" ]]; then qemu="$candidate"; break; fi
    done
fi
[[ -n "$qemu" && -x "$qemu" ]] || die "no qemu-aarch64 found; build the cross root (ci/cross/build-root.sh) or pass --qemu"
[[ "$qemu" == /* ]] || qemu="$PWD/$qemu"
# A static interpreter has no PT_INTERP: check the ELF program headers.
if command -v readelf >/dev/null 2>&1 && readelf -lW "$qemu" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die "$qemu is dynamically linked: LD_PRELOAD and /etc/ld.so.preload meant for the guest would apply to it (use a static qemu)"
fi

# Nothing of the caller's preload reaches unshare or mount.
unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT

# The user namespace with uids/gids 0-65535 mapped to themselves. A process
# can map only its own uid into a namespace it made; a wider map must be
# written from the parent namespace (what newuidmap does, which this host
# need not have). So: the child makes the namespace and waits on a FIFO; we
# write its maps; then it execs (and, being uid 0 of the namespace at that
# exec, gets its capabilities there) the mount and PID namespaces and the
# inner half.
net=(--net)
[[ "$share_net" -eq 0 ]] || net=()
sync_dir="$(mktemp -d)"
trap 'rm -rf -- "$sync_dir"' EXIT
mkfifo -m 600 "$sync_dir/go"
unshare --user -- bash -c 'read -r go <"$1" && [[ "$go" == go ]] || exit 125; shift; exec "$@"' \
    sh "$sync_dir/go" \
    unshare --mount --propagation private --pid --fork --kill-child "${net[@]}" -- \
    bash "${BASH_SOURCE[0]}" --inner "$qemu" "$name" "$share_net" "$@" &
child=$!
own_ns="$(readlink /proc/self/ns/user)"
for _ in $(seq 500); do
    ns="$(readlink "/proc/$child/ns/user" 2>/dev/null)" || break
    [[ "$ns" == "$own_ns" ]] || break
    sleep 0.01
done
if [[ "${ns:-}" == "$own_ns" ]] || ! printf '0 0 65536\n' >"/proc/$child/uid_map" ||
    ! printf '0 0 65536\n' >"/proc/$child/gid_map"; then
    kill "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
    die "could not set up the user namespace"
fi
# A signal to this script ends the command: unshare --fork ignores TERM and
# INT, so it gets KILL; with --kill-child its death kills the PID
# namespace's first process, and with it every other.
forward() {
    kill -KILL "$child" 2>/dev/null || true
}
trap forward TERM INT HUP
echo go >"$sync_dir/go"
status=0
while :; do
    wait "$child" && status=0 || status=$?
    # wait returns early (status > 128) when a trapped signal arrives.
    kill -0 "$child" 2>/dev/null || break
done
exit "$status"
