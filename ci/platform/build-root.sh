#!/usr/bin/env bash
# Builds (or reuses) a minimal Debian root for running memproxy's conformance
# report against another glibc and other allocator packages.
#
#   ci/platform/build-root.sh [--release trixie] [--dir DIR] [options]
#
# Run as root. Idempotent: a root whose stamp matches the request is reused.
# debootstrap runs inside a private mount namespace, so the /proc, /sys and
# /dev mounts it makes never reach the host. See ci/platform/README.md.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
TOP="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
readonly SCRIPT_DIR TOP
readonly STAMP_NAME=".memproxy-root-ready"
readonly INFO_NAME=".memproxy-root-info"
# Bump when the way a root is built changes, so old roots are rebuilt.
readonly STAMP_FORMAT=1
# shellcheck source=ci/platform/apt-sources.sh
. "$SCRIPT_DIR/apt-sources.sh"

release="trixie"
dir=""
mirror=""
mirror_from=""
print_mirror=0
cache_dir=""
alloc_packages=""
extra_packages=()
foreign_archs=()
apt_packages=()
arch_opt=""
bare=0
force=0
keep_lists=0

log() { printf 'build-root: %s\n' "$*" >&2; }
die() { printf 'build-root: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: ci/platform/build-root.sh [options]

Builds a minimal Debian root (debootstrap --variant=minbase) holding that
release's jemalloc, mimalloc and tcmalloc packages, for ci/platform/run-in-root.sh.

options:
  --release NAME     Debian release to build (default: trixie)
  --dir DIR          where the root goes (default: $TOP/target/platforms/NAME)
  --mirror URL       Debian mirror (default: \$MEMPROXY_DEBIAN_MIRROR, else the
                     first Debian main archive in this host's apt sources;
                     here: $(describe_apt_mirror))
  --print-mirror     print the mirror this run would use and where it comes
                     from, then exit
  --cache-dir DIR    keep downloaded .debs here for rebuilds
                     (default: $TOP/target/platforms/.cache/NAME)
  --alloc-packages "P1 P2 ..."
                     the allocator packages to install (default: known per
                     release, see below; required for other releases)
  --add PKG          install PKG as well (repeatable)
  --arch ARCH        the root's architecture (default: the host's); another
                     one needs a way to run its programs while debootstrap
                     and the checks run (ci/cross/qemu-binfmt.sh)
  --foreign-arch ARCH
                     dpkg --add-architecture ARCH in the root before the
                     --apt-add packages are installed (repeatable)
  --apt-add PKG      install PKG (PKG:ARCH for a foreign one) with apt-get
                     inside the root after debootstrap, with apt resolving
                     its dependencies (repeatable; needs the mirror from
                     inside the root)
  --bare             no allocator packages: minbase only, as on a fresh
                     machine (used by ci/fresh/check.sh)
  --force            rebuild even when the existing root matches
  --keep-apt-lists   keep apt's package lists in the root (about 60 MB more)
  -h, --help         this text

default allocator packages:
  bookworm: $(alloc_packages_for bookworm)
  trixie:   $(alloc_packages_for trixie)
EOF
}

# The allocator packages of a release. The names differ between releases:
# trixie's 64-bit time_t transition renamed the gperftools libraries
# (libtcmalloc-minimal4 -> libtcmalloc-minimal4t64), and mimalloc moved from
# libmimalloc2.0 (libmimalloc.so.2) to libmimalloc3 (libmimalloc.so.3).
alloc_packages_for() {
    case "$1" in
        bookworm) echo "libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libgoogle-perftools4" ;;
        trixie) echo "libjemalloc2 libmimalloc3 libtcmalloc-minimal4t64 libgoogle-perftools4t64" ;;
        *) echo "" ;;
    esac
}

# The apt-sources default, for --help.
describe_apt_mirror() {
    local found
    if found="$(debian_mirror_from_apt)"; then
        printf '%s, from %s' "${found%%$'\t'*}" "${found#*$'\t'}"
    else
        printf 'none found'
    fi
}

need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "option $1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --release) need_arg "$@"; release="$2"; shift 2 ;;
        --release=*) release="${1#*=}"; shift ;;
        --dir) need_arg "$@"; dir="$2"; shift 2 ;;
        --dir=*) dir="${1#*=}"; shift ;;
        --mirror) need_arg "$@"; mirror="$2"; mirror_from="--mirror"; shift 2 ;;
        --mirror=*) mirror="${1#*=}"; mirror_from="--mirror"; shift ;;
        --print-mirror) print_mirror=1; shift ;;
        --cache-dir) need_arg "$@"; cache_dir="$2"; shift 2 ;;
        --cache-dir=*) cache_dir="${1#*=}"; shift ;;
        --alloc-packages) need_arg "$@"; alloc_packages="$2"; shift 2 ;;
        --alloc-packages=*) alloc_packages="${1#*=}"; shift ;;
        --add) need_arg "$@"; extra_packages+=("$2"); shift 2 ;;
        --add=*) extra_packages+=("${1#*=}"); shift ;;
        --arch) need_arg "$@"; arch_opt="$2"; shift 2 ;;
        --arch=*) arch_opt="${1#*=}"; shift ;;
        --foreign-arch) need_arg "$@"; foreign_archs+=("$2"); shift 2 ;;
        --foreign-arch=*) foreign_archs+=("${1#*=}"); shift ;;
        --apt-add) need_arg "$@"; apt_packages+=("$2"); shift 2 ;;
        --apt-add=*) apt_packages+=("${1#*=}"); shift ;;
        --bare) bare=1; shift ;;
        --force) force=1; shift ;;
        --keep-apt-lists) keep_lists=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ "$release" =~ ^[a-z][a-z0-9-]*$ ]] || die "bad release name '$release'"
# The mirror: --mirror, else $MEMPROXY_DEBIAN_MIRROR, else the host's own apt
# sources (see apt-sources.sh), so that a host behind its own mirror or proxy
# builds from it.
if [[ -z "$mirror_from" && -n "${MEMPROXY_DEBIAN_MIRROR:-}" ]]; then
    mirror="$MEMPROXY_DEBIAN_MIRROR"
    mirror_from="MEMPROXY_DEBIAN_MIRROR"
fi
if [[ -z "$mirror_from" ]]; then
    found="$(debian_mirror_from_apt)" ||
        die "no Debian main archive in this host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources: a 'deb' entry with component 'main', a suite other than *-security, *-updates or *-backports, and a URI ending in /debian or signed by debian-archive-keyring); name a mirror with --mirror URL or MEMPROXY_DEBIAN_MIRROR=URL"
    mirror="${found%%$'\t'*}"
    mirror_from="${found#*$'\t'}"
fi
[[ -n "$mirror" ]] || die "the mirror given by $mirror_from is empty"
mirror="${mirror%/}"
if [[ "$print_mirror" -eq 1 ]]; then
    printf '%s\t%s\n' "$mirror" "$mirror_from"
    exit 0
fi
log "mirror: $mirror (from $mirror_from)"
[[ -n "$dir" ]] || dir="$TOP/target/platforms/$release"
[[ -n "$cache_dir" ]] || cache_dir="$TOP/target/platforms/.cache/$release"
[[ "$dir" == /* ]] || dir="$PWD/$dir"
[[ "$cache_dir" == /* ]] || cache_dir="$PWD/$cache_dir"
dir="${dir%/}"
[[ -n "$dir" && "$dir" != "/" ]] || die "refusing to use / as the root directory"

if [[ "$bare" -eq 1 ]]; then
    [[ -z "$alloc_packages" ]] || die "--bare and --alloc-packages exclude each other"
elif [[ -z "$alloc_packages" ]]; then
    alloc_packages="$(alloc_packages_for "$release")"
    [[ -n "$alloc_packages" ]] ||
        die "no default allocator packages for release '$release': pass --alloc-packages \"...\""
fi

# Everything the report needs besides minbase: the allocators, the C++ runtime
# of the C++ probes, and coreutils (in minbase already, listed to be explicit).
# No python3: the harness and the probes are built on the host.
read -r -a alloc_list <<<"$alloc_packages"
packages="$(printf '%s\n' libc6 libstdc++6 libgcc-s1 coreutils "${alloc_list[@]}" "${extra_packages[@]}" |
    sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)"

for name in "${foreign_archs[@]}"; do
    [[ "$name" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "bad architecture name '$name'"
done
for name in "${apt_packages[@]}"; do
    [[ "$name" =~ ^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?$ ]] || die "bad package name '$name'"
done
foreign_archs_list="$(printf '%s\n' "${foreign_archs[@]}" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)"
apt_packages_list="$(printf '%s\n' "${apt_packages[@]}" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)"

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }
t_start="$(now)"

# The stamp: exactly what was asked for. A root is reused only when its stamp
# is byte-for-byte the one this request would write.
arch=""
wanted_stamp() {
    printf 'format=%s\nrelease=%s\narch=%s\nmirror=%s\nvariant=minbase\npackages=%s\n' \
        "$STAMP_FORMAT" "$release" "$arch" "$mirror" "$packages"
    # Only when asked for, so that the stamps of other roots stay as they were.
    [[ -z "$foreign_archs_list" ]] || printf 'foreign_archs=%s\n' "$foreign_archs_list"
    [[ -z "$apt_packages_list" ]] || printf 'apt_packages=%s\n' "$apt_packages_list"
}

# ---- requirements --------------------------------------------------------
[[ "$(id -u)" -eq 0 ]] || die "must run as root (debootstrap, mount namespaces and chroot need it)"
command -v dpkg >/dev/null 2>&1 || die "dpkg not found: this script needs a Debian-based host"
arch="${arch_opt:-$(dpkg --print-architecture)}"
[[ "$arch" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "bad architecture name '$arch'"

if [[ -f "$dir/$STAMP_NAME" && "$force" -eq 0 ]]; then
    if [[ "$(cat "$dir/$STAMP_NAME")" == "$(wanted_stamp)" ]]; then
        log "root $dir is ready (stamp matches: $release, $packages); nothing to do"
        log "total $(elapsed "$t_start" "$(now)") (cached)"
        exit 0
    fi
    log "root $dir exists but was built for another request; rebuilding"
    diff <(cat "$dir/$STAMP_NAME") <(wanted_stamp) | sed 's/^/build-root:   /' >&2 || true
fi

command -v debootstrap >/dev/null 2>&1 ||
    die "debootstrap not found: install it with 'apt-get install debootstrap'"
[[ -e "/usr/share/debootstrap/scripts/$release" ]] ||
    die "this debootstrap ($(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo unknown)) does not know release '$release'; upgrade debootstrap"
for tool in unshare chroot mount wget gpgv flock findmnt; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; it is needed to build the root"
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r "$keyring" ]] || die "$keyring missing: install debian-archive-keyring"

if ! wget -q --spider --timeout=20 --tries=2 "$mirror/dists/$release/InRelease" </dev/null; then
    die "cannot reach $mirror/dists/$release/InRelease: no network, a wrong --mirror, or an unknown release"
fi

# ---- build ---------------------------------------------------------------
mkdir -p "$(dirname "$dir")" "$cache_dir"
exec 9>"$dir.lock"
if ! flock -n 9; then
    log "another build of $dir is running; waiting for it (up to 20 min)"
    flock -w 1200 9 || die "timed out waiting for the lock $dir.lock"
    if [[ "$force" -eq 0 && -f "$dir/$STAMP_NAME" && "$(cat "$dir/$STAMP_NAME")" == "$(wanted_stamp)" ]]; then
        log "root $dir was built by the other run; nothing to do"
        exit 0
    fi
fi

# Removes a tree this script made, never crossing into a mount (there should be
# none in the host's namespace: run-in-root.sh mounts in a private one).
remove_tree() {
    local path="$1"
    [[ -e "$path" ]] || return 0
    [[ "$path" == /*/* && "$path" != *"/../"* ]] || die "refusing to remove '$path'"
    if findmnt -rn -o TARGET | awk -v p="$path" 'index($0, p "/") == 1 || $0 == p { found = 1 } END { exit !found }'; then
        die "something is mounted under $path in the host's namespace; unmount it first (findmnt -R $path)"
    fi
    rm -rf --one-file-system -- "$path"
}

if [[ -e "$dir" && ! -f "$dir/$STAMP_NAME" ]]; then
    if [[ -n "$(ls -A "$dir")" ]]; then
        die "$dir exists, is not empty and is not a root made by this script; remove it yourself or pick another --dir"
    fi
fi

partial="$dir.partial"
remove_tree "$partial"
mkdir -p "$partial"
build_log="$dir.build.log"
: >"$build_log"

log "debootstrap $release ($arch, minbase) into $partial"
log "packages: $packages"
log "log: $build_log; .deb cache: $cache_dir"
t_boot="$(now)"
# A private mount namespace: debootstrap mounts proc and sysfs in the target
# (and /dev when it thinks it is in a container); those mounts go away with
# the namespace, even if debootstrap dies half-way.
if ! DEBIAN_FRONTEND=noninteractive unshare --mount --propagation private -- \
    debootstrap --variant=minbase --arch="$arch" --components=main \
    --keyring="$keyring" --cache-dir="$cache_dir" \
    --include="$packages" "$release" "$partial" "$mirror" \
    </dev/null >>"$build_log" 2>&1; then
    tail -n 25 "$build_log" | sed 's/^/build-root:   | /' >&2
    die "debootstrap failed (full log: $build_log). 'Couldn't find these debs' means a package name is wrong for $release; check it with the release's Packages index"
fi
t_booted="$(now)"
log "debootstrap done in $(elapsed "$t_boot" "$t_booted")"

# Slim the root: debootstrap leaves every .deb in apt's archive (they are in
# the cache dir anyway) and the whole Packages index in apt's lists.
find "$partial/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete
rm -f "$partial/var/cache/apt/"*.bin
if [[ "$keep_lists" -eq 0 ]]; then
    find "$partial/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
fi

wanted_stamp >"$partial/$STAMP_NAME"

# ---- foreign architectures and --apt-add packages --------------------------
# debootstrap installs one architecture and resolves dependencies only
# roughly; these go in with the root's own apt, through run-in-root.sh (the
# root shares the host's network; debootstrap copied its resolv.conf).
if [[ -n "$foreign_archs_list" || -n "$apt_packages_list" ]]; then
    t_apt="$(now)"
    archives="$partial/var/cache/apt/archives"
    # Start from the .deb cache (apt checks every file against the index).
    find "$cache_dir" -maxdepth 1 -name '*.deb' -exec cp -l -t "$archives" {} + 2>/dev/null ||
        find "$cache_dir" -maxdepth 1 -name '*.deb' -exec cp -t "$archives" {} +
    log "apt: architectures ${foreign_archs_list:-none}; packages ${apt_packages_list//,/ }"
    # shellcheck disable=SC2016 # expanded by the shell inside the root
    if ! "$SCRIPT_DIR/run-in-root.sh" --env DEBIAN_FRONTEND=noninteractive "$partial" -- /bin/sh -c '
            set -e
            for a in $1; do dpkg --add-architecture "$a"; done
            shift
            apt-get -q -o APT::Keep-Downloaded-Packages=true update
            if [ $# -gt 0 ]; then
                apt-get -q -y -o APT::Keep-Downloaded-Packages=true \
                    --no-install-recommends install "$@"
            fi
        ' sh "${foreign_archs[*]}" "${apt_packages[@]}" </dev/null >>"$build_log" 2>&1; then
        tail -n 25 "$build_log" | sed 's/^/build-root:   | /' >&2
        die "installing with apt inside the root failed (full log: $build_log)"
    fi
    find "$archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$cache_dir" {} +
    find "$archives" -maxdepth 1 -name '*.deb' -delete
    rm -f "$partial/var/cache/apt/"*.bin
    if [[ "$keep_lists" -eq 0 ]]; then
        find "$partial/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
    fi
    log "apt done in $(elapsed "$t_apt" "$(now)")"
fi

# ---- verify and record ---------------------------------------------------
# Runs through run-in-root.sh, so a root that is stamped has also been shown
# to work with it.
t_verify="$(now)"
info_tmp="$partial/$INFO_NAME.tmp"
{
    printf 'release=%s\n' "$release"
    printf 'debian_version=%s\n' "$(cat "$partial/etc/debian_version")"
    printf 'built_at=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'mirror=%s\n' "$mirror"
} >"$info_tmp"
# shellcheck disable=SC2016 # expanded by the shell inside the root
if ! "$SCRIPT_DIR/run-in-root.sh" "$partial" -- /bin/sh -c '
        set -e
        printf "glibc=%s\n" "$(getconf GNU_LIBC_VERSION | cut -d" " -f2)"
        dpkg-query -W -f="pkg.\${Package}=\${Version}\n" "$@"
    ' sh "${alloc_list[@]}" libc6 libstdc++6 libgcc-s1 >>"$info_tmp" 2>>"$build_log"; then
    tail -n 10 "$build_log" | sed 's/^/build-root:   | /' >&2
    die "the new root at $partial does not run commands (see $build_log)"
fi
# run-in-root.sh made the workspace's mount points inside the root; leave no
# empty directories of them behind.
target_dir="${CARGO_TARGET_DIR:-$TOP/target}"
[[ "$target_dir" == /* ]] || target_dir="$TOP/$target_dir"
for mount_point in "$partial$target_dir" "$partial$TOP"; do
    while [[ "$mount_point" == "$partial"/?* ]] && rmdir -- "$mount_point" 2>/dev/null; do
        mount_point="$(dirname "$mount_point")"
    done
done
multiarch=""
for libc in "$partial"/usr/lib/*/libc.so.6; do
    [[ -e "$libc" ]] || continue
    multiarch="${libc%/libc.so.6}"
    multiarch="${multiarch##*/}"
done
# With --foreign-arch there are several: the root's own is its libc6's.
libc="$(grep -m1 '/libc\.so\.6$' "$partial/var/lib/dpkg/info/libc6:$arch.list" 2>/dev/null || true)"
if [[ -n "$libc" ]]; then
    multiarch="${libc%/libc.so.6}"
    multiarch="${multiarch##*/}"
fi
[[ -n "$multiarch" ]] || die "cannot find the root's libc.so.6 under $partial/usr/lib/*/"
printf 'multiarch=%s\n' "$multiarch" >>"$info_tmp"
# The allocator libraries by their soname link, for LD_PRELOAD inside the root.
for name in jemalloc mimalloc tcmalloc_minimal tcmalloc; do
    found=""
    for lib in "$partial/usr/lib/$multiarch/lib$name.so."*; do
        base="${lib##*/}"
        [[ "$base" =~ ^lib${name}\.so\.[0-9]+$ ]] || continue
        found="/usr/lib/$multiarch/$base"
        break
    done
    if [[ -n "$found" ]]; then
        printf 'lib.%s=%s\n' "$name" "$found" >>"$info_tmp"
    elif [[ "$bare" -eq 0 ]]; then
        log "warning: no lib$name.so.N in the root (not in: $alloc_packages)"
    fi
done
mv -f "$info_tmp" "$partial/$INFO_NAME"
t_verified="$(now)"

# ---- publish -------------------------------------------------------------
if [[ -e "$dir" ]]; then
    remove_tree "$dir"
fi
mv -T "$partial" "$dir"
t_end="$(now)"

size="$(du -sh --one-file-system "$dir" | cut -f1)"
log "root ready: $dir ($size, $(sed -n 's/^glibc=/glibc /p' "$dir/$INFO_NAME"), Debian $(cat "$dir/etc/debian_version"))"
sed -n 's/^\(pkg\|lib\)\./  /p' "$dir/$INFO_NAME" | sed 's/^/build-root: /' >&2
log "timing: debootstrap $(elapsed "$t_boot" "$t_booted"), verify $(elapsed "$t_verify" "$t_verified"), total $(elapsed "$t_start" "$t_end")"
