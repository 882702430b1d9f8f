#!/usr/bin/env bash
# Runs a command inside a root made by ci/platform/build-root.sh, with the
# workspace visible at the same absolute path.
#
#   ci/platform/run-in-root.sh [options] DIR -- CMD [ARG...]
#
# Every mount is made inside a private mount namespace (unshare -m), so none
# reaches the host and all vanish when the command's processes exit. Inside,
# only the root's own files are used: its ld.so, glibc and tools; the
# workspace contributes only what was built in it. See ci/platform/README.md.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")"
TOP="$(cd "$(dirname "$SELF")/../.." && pwd -P)"
readonly SELF TOP
readonly STAMP_NAME=".memproxy-root-ready"
readonly ROOT_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf 'run-in-root: %s\n' "$*" >&2; }
die() { printf 'run-in-root: error: %s\n' "$*" >&2; exit 125; }

usage() {
    cat <<EOF
usage: ci/platform/run-in-root.sh [options] DIR [options] -- CMD [ARG...]

Runs CMD chrooted into DIR (a root made by build-root.sh) in a private mount
namespace. The workspace ($TOP) is mounted read-only at the same path, its
target directory read-write; /proc, /sys (read-only), a minimal /dev, and
fresh tmpfs /tmp and /run are mounted too.

CMD gets a clean environment: PATH, HOME=/root, LANG=C.UTF-8, TMPDIR=/tmp,
TERM (if set), MEMPROXY_PLATFORM_RELEASE / MEMPROXY_PLATFORM_ROOT, and the
caller's MEMPROXY_*, RUST_BACKTRACE, RUST_LOG, RUST_TEST_THREADS, CI and
CARGO_TARGET_DIR. Nothing else passes, LD_PRELOAD included: set it after
'--' with env, or with --env.

options:
  --env NAME=VALUE   set NAME in CMD's environment (repeatable)
  --pass NAME        pass the caller's NAME through (repeatable)
  --wd PATH          working directory inside (default: the caller's if it
                     is inside the workspace, else /)
  --rw               mount the whole workspace read-write
  -h, --help         this text

CMD's exit status is returned; 125 means this script failed before CMD ran.

example:
  ci/platform/run-in-root.sh target/platforms/trixie -- \\
      env MEMPROXY_DEBUG=1 LD_PRELOAD=$TOP/target/release/libmemproxy.so:/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /bin/true
EOF
}

# ---- inner half: runs in the new mount namespace --------------------------
# Arguments: --inner ROOT TARGET_DIR WD RW N_ENV ENV... CMD...
inner() {
    local root="$1" target_dir="$2" wd="$3" rw="$4" n_env="$5"
    shift 5
    local envs=("${@:1:n_env}")
    shift "$n_env"

    trap 'die "setting up the root failed at: $BASH_COMMAND"' ERR
    # unshare already made every mount private; make sure of it before
    # mounting anything.
    mount --make-rprivate / || die "cannot make the mounts private"
    # Make the root a mount point of its own, so that commands inside can
    # create mount namespaces too (unshare changes the propagation of "/",
    # which fails with EINVAL when "/" is not a mount point).
    mount --bind "$root" "$root"

    # Fresh /tmp and /run first: the workspace may itself live under /tmp
    # (a CI clone often does), and its bind mount must land on top of them.
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$root/run"

    # The workspace at the same path, read-only unless --rw; target/ read-write.
    mkdir -p "$target_dir" "$root$TOP"
    mount --bind "$TOP" "$root$TOP"
    if [[ "$rw" -eq 0 ]]; then
        mount -o remount,bind,ro "$root$TOP"
    fi
    if [[ "$target_dir" != "$TOP"/* ]]; then
        mkdir -p "$root$target_dir"
    fi
    mount --bind "$target_dir" "$root$target_dir"

    mount -t proc -o nosuid,nodev,noexec proc "$root/proc" 2>/dev/null ||
        mount --rbind /proc "$root/proc"
    if ! mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" 2>/dev/null; then
        mount --bind /sys "$root/sys"
        mount -o remount,bind,ro "$root/sys"
    fi

    # A minimal /dev of its own rather than the host's.
    mount -t tmpfs -o mode=755,nosuid,noexec,size=1m tmpfs "$root/dev"
    local node
    for node in null zero full random urandom tty; do
        [[ -c "/dev/$node" ]] || continue
        : >"$root/dev/$node"
        mount --bind "/dev/$node" "$root/dev/$node"
    done
    ln -s /proc/self/fd "$root/dev/fd"
    ln -s /proc/self/fd/0 "$root/dev/stdin"
    ln -s /proc/self/fd/1 "$root/dev/stdout"
    ln -s /proc/self/fd/2 "$root/dev/stderr"
    mkdir -m 1777 "$root/dev/shm"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
    mkdir "$root/dev/pts"
    if mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts" 2>/dev/null; then
        ln -s pts/ptmx "$root/dev/ptmx"
    fi

    # From here on only the root's binaries run: its env, then CMD.
    trap - ERR
    exec chroot "$root" /usr/bin/env -i -C "$wd" -- "${envs[@]}" "$@"
}

if [[ "${1:-}" == "--inner" ]]; then
    shift
    inner "$@"
fi

# ---- outer half: parse, check, enter the namespace -------------------------
extra_env=()
pass_names=()
wd=""
rw=0
root=""
# Options may stand before or after DIR; '--' ends them.
while [[ $# -gt 0 && "$1" != "--" ]]; do
    case "$1" in
        --env)
            [[ $# -ge 2 && "$2" == [A-Za-z_]*=* ]] || die "--env needs NAME=VALUE"
            extra_env+=("$2"); shift 2 ;;
        --pass)
            [[ $# -ge 2 && "$2" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--pass needs a variable name"
            pass_names+=("$2"); shift 2 ;;
        --wd)
            [[ $# -ge 2 && "$2" == /* ]] || die "--wd needs an absolute path"
            wd="$2"; shift 2 ;;
        --rw) rw=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *)
            [[ -z "$root" ]] || die "unexpected '$1': put '--' before the command (see --help)"
            root="$1"; shift ;;
    esac
done
[[ -n "$root" ]] || die "missing DIR (see --help)"
[[ "${1:-}" == "--" ]] || die "expected '--' and then the command (see --help)"
shift
[[ $# -ge 1 ]] || die "missing the command after '--'"

[[ "$(id -u)" -eq 0 ]] || die "must run as root (mount namespaces and chroot need it)"
[[ -d "$root" ]] || die "no root at '$root'; build one with ci/platform/build-root.sh"
root="$(cd "$root" && pwd -P)"
[[ "$root" != "/" ]] || die "refusing to use / as the root"
[[ -f "$root/$STAMP_NAME" ]] ||
    die "$root is not a finished root (no $STAMP_NAME); build it with ci/platform/build-root.sh"
for path in usr/bin/env proc sys dev tmp run; do
    [[ -e "$root/$path" ]] || die "$root/$path missing: the root is incomplete; rebuild it with build-root.sh --force"
done
for tool in unshare chroot mount; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on the host"
done

target_dir="${CARGO_TARGET_DIR:-$TOP/target}"
[[ "$target_dir" == /* ]] || target_dir="$TOP/$target_dir"
case "$target_dir" in
    "$root" | "$root"/*) die "the target directory $target_dir is inside the root $root" ;;
esac

if [[ -z "$wd" ]]; then
    wd="/"
    caller_wd="$(pwd -P)"
    case "$caller_wd" in
        "$TOP" | "$TOP"/* | "$target_dir" | "$target_dir"/*) wd="$caller_wd" ;;
    esac
fi

release="$(sed -n 's/^release=//p' "$root/$STAMP_NAME")"
envs=(
    "PATH=$ROOT_PATH" "HOME=/root" "USER=root" "LOGNAME=root" "LANG=C.UTF-8" "TMPDIR=/tmp"
    "MEMPROXY_PLATFORM_RELEASE=$release" "MEMPROXY_PLATFORM_ROOT=$root"
)
[[ -z "${TERM:-}" ]] || envs+=("TERM=$TERM")
while read -r name; do
    case "$name" in
        MEMPROXY_PLATFORM_*) ;;
        MEMPROXY_* | RUST_BACKTRACE | RUST_LOG | RUST_TEST_THREADS | CI | CARGO_TARGET_DIR)
            envs+=("$name=${!name}") ;;
    esac
done < <(compgen -e)
for name in "${pass_names[@]}"; do
    if [[ -n "${!name+set}" ]]; then
        envs+=("$name=${!name}")
    fi
done
envs+=("${extra_env[@]}")

# The host's unshare, mount and chroot must not run under the caller's
# preload; it is not passed inside either (see --help).
if [[ -n "${LD_PRELOAD:-}" ]]; then
    log "note: the caller's LD_PRELOAD is not passed inside; use --env LD_PRELOAD=... or env after '--'"
fi
unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT

exec unshare --mount --propagation private -- \
    bash "$SELF" --inner "$root" "$target_dir" "$wd" "$rw" "${#envs[@]}" "${envs[@]}" "$@"
