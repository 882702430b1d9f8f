#!/usr/bin/env bash
# Proves that the README's two commands pass on a fresh Debian machine: for
# each release, a pristine copy of a minimal Debian root (debootstrap
# --variant=minbase, nothing added), a plain clone of the repository, the
# host's Rust toolchain mounted read-only with an empty CARGO_HOME, and then
# the commands from README.md's "The two commands", run as root in a plain
# chroot with a clean environment.
#
#   ci/fresh/check.sh [--release bookworm|trixie]... [--repo DIR] [--keep]
#
# Run as root (debootstrap, mount namespaces, chroot). No terminal needed.
# See ci/fresh/README.md.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")"
TOP="$(cd "$(dirname "$SELF")/../.." && pwd -P)"
readonly SELF TOP
# Inside the root: where the clone goes, and the PATH a root login gets
# after rustup's installer (~/.cargo/bin first).
readonly CLONE_IN_ROOT=/root/memproxy
readonly RUSTUP_IN_ROOT=/root/.rustup
readonly CARGO_BIN_IN_ROOT=/root/.cargo/bin
readonly ROOT_PATH="$CARGO_BIN_IN_ROOT:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf 'fresh: %s\n' "$*" >&2; }
die() { printf 'fresh: error: %s\n' "$*" >&2; exit 2; }

usage() {
    cat <<EOF
usage: ci/fresh/check.sh [options]

For each release: copies a cached minbase Debian root (built once with
ci/platform/build-root.sh --bare), clones the repository into it at
$CLONE_IN_ROOT, mounts the host's rustup toolchain read-only with an empty
CARGO_HOME, and runs the commands of README.md's "The two commands" inside
(plain chroot, tmpfs /tmp, clean environment, CI=true). The only change to
the commands: '--no-fail-fast' is appended to 'cargo test' (see --verbatim).

options:
  --release NAME     bookworm or trixie (repeatable; default: both, one after
                     the other)
  --repo DIR         the git repository to clone (default: $TOP)
  --rev REV          the commit to check out (default: HEAD of --repo)
  --uncommitted PATHSPEC
                     also copy --repo's uncommitted changes and untracked
                     files under PATHSPEC into the clone (repeatable; e.g.
                     'ci' to try a ci/ change before committing it)
  --command CMD      run CMD instead of the README's commands (repeatable;
                     for debugging this script)
  --verbatim         run 'cargo test' exactly as written (stop at the first
                     failing test binary)
  --tmp-on-disk      leave /tmp a plain directory of the root, as on a Debian
                     12 install (default: a tmpfs with the options Debian
                     13's tmp.mount uses, nosuid and nodev included)
  --timeout SECONDS  per command (default: 3600)
  --keep             keep the root's copy afterwards (its path is printed)
  --cache-dir DIR    roots, .deb caches and run copies (default:
                     \$MEMPROXY_CI_CACHE or /var/cache/memproxy-ci)
  --log-dir DIR      per-release logs (default: $TOP/target/fresh)
  --mirror URL       Debian mirror for the root (default: build-root.sh's)
  --rebuild-root     build the root again even if the cached one matches
  -h, --help         this text

Exit status: 0 when every command passed in every release, 1 when one
failed, 2 when this script could not run the check.
EOF
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }
mmss() { printf '%dm%02ds' "$(($1 / 60))" "$(($1 % 60))"; }

# Tags every line with the minutes and seconds since the command started.
stamp_lines() {
    local start=$SECONDS line s
    while IFS= read -r line || [[ -n "$line" ]]; do
        s=$((SECONDS - start))
        printf '[%dm%02ds] %s\n' "$((s / 60))" "$((s % 60))" "$line"
    done
}

# ---- inner half: runs in the new mount and pid namespaces -----------------
# Arguments: --inner COPY RUSTUP_HOME CARGO_BIN APT_CACHE TMP_ON_DISK TIMEOUT RESULTS CMD...
# Mounts what a booted machine has (proc, sysfs, a minimal /dev, tmpfs /run
# and /tmp), the toolchain read-only and the apt archive cache, then runs each
# CMD in turn with chroot. "/" inside stays a plain directory, not a mount
# point, as in a chroot made by hand. This process is pid 1 of its namespace:
# when it exits, everything started inside is killed and every mount goes.
inner() {
    local copy="$1" rustup_home="$2" cargo_bin="$3" apt_cache="$4" tmp_on_disk="$5" timeout="$6" results="$7"
    shift 7
    trap 'printf "fresh: error: setting up the root failed at: %s\n" "$BASH_COMMAND" >&2; exit 125' ERR
    mount --make-rprivate /

    mount -t proc -o nosuid,nodev,noexec proc "$copy/proc"
    if ! mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$copy/sys" 2>/dev/null; then
        mount --rbind /sys "$copy/sys"
        mount -o remount,bind,ro "$copy/sys"
    fi
    mount -t tmpfs -o mode=755,nosuid,noexec,size=1m tmpfs "$copy/dev"
    local node
    for node in null zero full random urandom tty; do
        [[ -c "/dev/$node" ]] || continue
        : >"$copy/dev/$node"
        mount --bind "/dev/$node" "$copy/dev/$node"
    done
    ln -s /proc/self/fd "$copy/dev/fd"
    ln -s /proc/self/fd/0 "$copy/dev/stdin"
    ln -s /proc/self/fd/1 "$copy/dev/stdout"
    ln -s /proc/self/fd/2 "$copy/dev/stderr"
    mkdir -m 1777 "$copy/dev/shm"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$copy/dev/shm"
    mkdir "$copy/dev/pts"
    if mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$copy/dev/pts" 2>/dev/null; then
        ln -s pts/ptmx "$copy/dev/ptmx"
    fi
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$copy/run"
    mkdir -m 755 "$copy/run/lock"
    # Debian 13 mounts a tmpfs on /tmp by default (systemd's tmp.mount, with
    # these options); Debian 12 leaves it on the root file system.
    if [[ "$tmp_on_disk" -eq 0 ]]; then
        mount -t tmpfs -o mode=1777,strictatime,nosuid,nodev,size=50%,nr_inodes=1m tmpfs "$copy/tmp"
    fi

    mkdir -p "$copy$RUSTUP_IN_ROOT" "$copy$CARGO_BIN_IN_ROOT"
    mount --bind "$rustup_home" "$copy$RUSTUP_IN_ROOT"
    mount -o remount,bind,ro "$copy$RUSTUP_IN_ROOT"
    mount --bind "$cargo_bin" "$copy$CARGO_BIN_IN_ROOT"
    mount -o remount,bind,ro "$copy$CARGO_BIN_IN_ROOT"
    mount --bind "$apt_cache" "$copy/var/cache/apt/archives"
    trap - ERR

    local envs=(
        "PATH=$ROOT_PATH" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
        LANG=C.UTF-8 CI=true
    )
    local cmd status start
    for cmd in "$@"; do
        start="$(now)"
        printf '\n==== fresh: command: %s\n' "$cmd"
        set +e
        timeout --kill-after=30 "$timeout" \
            chroot "$copy" /usr/bin/env -i -C "$CLONE_IN_ROOT" -- "${envs[@]}" \
            /bin/bash -c "$cmd" </dev/null 2>&1 | stamp_lines
        status=${PIPESTATUS[0]}
        set -e
        printf '==== fresh: exit status %s after %ss\n' "$status" "$(secs "$start" "$(now)")"
        printf '%s %s\n' "$status" "$(secs "$start" "$(now)")" >>"$results"
    done
    exit 0
}

if [[ "${1:-}" == "--inner" ]]; then
    shift
    inner "$@"
fi

# ---- options ----------------------------------------------------------------
releases=()
repo="$TOP"
rev=""
uncommitted=()
commands=()
verbatim=0
tmp_on_disk=0
timeout=3600
keep=0
cache_dir="${MEMPROXY_CI_CACHE:-/var/cache/memproxy-ci}"
log_dir=""
mirror_args=()
rebuild=0

need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "option $1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --release) need_arg "$@"; releases+=("$2"); shift 2 ;;
        --release=*) releases+=("${1#*=}"); shift ;;
        --repo) need_arg "$@"; repo="$2"; shift 2 ;;
        --repo=*) repo="${1#*=}"; shift ;;
        --rev) need_arg "$@"; rev="$2"; shift 2 ;;
        --rev=*) rev="${1#*=}"; shift ;;
        --uncommitted) need_arg "$@"; uncommitted+=("$2"); shift 2 ;;
        --uncommitted=*) uncommitted+=("${1#*=}"); shift ;;
        --command) need_arg "$@"; commands+=("$2"); shift 2 ;;
        --command=*) commands+=("${1#*=}"); shift ;;
        --verbatim) verbatim=1; shift ;;
        --tmp-on-disk) tmp_on_disk=1; shift ;;
        --timeout) need_arg "$@"; timeout="$2"; shift 2 ;;
        --timeout=*) timeout="${1#*=}"; shift ;;
        --keep) keep=1; shift ;;
        --cache-dir) need_arg "$@"; cache_dir="$2"; shift 2 ;;
        --cache-dir=*) cache_dir="${1#*=}"; shift ;;
        --log-dir) need_arg "$@"; log_dir="$2"; shift 2 ;;
        --log-dir=*) log_dir="${1#*=}"; shift ;;
        --mirror) need_arg "$@"; mirror_args=(--mirror "$2"); shift 2 ;;
        --mirror=*) mirror_args=(--mirror "${1#*=}"); shift ;;
        --rebuild-root) rebuild=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
((${#releases[@]})) || releases=(bookworm trixie)
for release in "${releases[@]}"; do
    case "$release" in
        bookworm | trixie) ;;
        *) die "unknown release '$release': ci/setup knows bookworm (12) and trixie (13)" ;;
    esac
done
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a number of seconds"
[[ "$cache_dir" == /* ]] || cache_dir="$PWD/$cache_dir"
[[ -n "$log_dir" ]] || log_dir="$TOP/target/fresh"
[[ "$log_dir" == /* ]] || log_dir="$PWD/$log_dir"

# ---- requirements -------------------------------------------------------------
[[ "$(id -u)" -eq 0 ]] ||
    die "must run as root (debootstrap, mount namespaces and chroot need it)"
missing_tools=()
for tool in debootstrap wget gpgv git unshare chroot mount flock timeout; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
done
if ((${#missing_tools[@]})); then
    die "missing ${missing_tools[*]} (PATH=$PATH); install with: apt-get update && apt-get install -y debootstrap wget gpgv git util-linux coreutils"
fi
unshare --mount --pid --fork --kill-child true 2>/dev/null ||
    die "cannot create mount and pid namespaces (unshare --mount --pid); a privileged root is needed"

repo="$(cd "$repo" 2>/dev/null && git rev-parse --show-toplevel 2>/dev/null)" ||
    die "--repo is not a git work tree"
sha="$(git -C "$repo" rev-parse --verify "${rev:-HEAD}^{commit}" 2>/dev/null)" ||
    die "no commit '${rev:-HEAD}' in $repo"
if ((${#uncommitted[@]})) && [[ -n "$rev" && "$sha" != "$(git -C "$repo" rev-parse HEAD)" ]]; then
    die "--uncommitted needs --rev to be HEAD (the changes are against HEAD)"
fi

# The host's toolchain: rustup's home and the directory holding its proxies.
cargo_path="$(command -v cargo 2>/dev/null || true)"
[[ -n "$cargo_path" ]] || die "no cargo on PATH: install the toolchain with rustup first"
cargo_bin="$(dirname "$cargo_path")"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
[[ -x "$cargo_bin/rustup" && -d "$rustup_home/toolchains" ]] ||
    die "cargo at $cargo_path is not rustup's (no $cargo_bin/rustup or $rustup_home/toolchains): this check mounts a rustup toolchain"

# The commands: README.md's "The two commands" block, from the commit being
# checked, so the check follows the README.
readme="$(git -C "$repo" show "$sha:README.md")" || die "no README.md in $sha"
labels=()
from_readme=0
if ((${#commands[@]} == 0)); then
    from_readme=1
    # The first sh block after '## The two commands': comment lines name the
    # command below them; every other non-blank line is a command.
    label=""
    while IFS= read -r line; do
        if [[ "$line" =~ ^#[[:space:]]*(.*)$ ]]; then
            label="${BASH_REMATCH[1]}"
        elif [[ -n "${line//[[:space:]]/}" ]]; then
            commands+=("$line")
            labels+=("${label:-$line}")
            label=""
        fi
    done < <(awk '
        /^## / { in_section = ($0 == "## The two commands") }
        in_section && !in_block && /^```(sh|bash|console)?$/ { in_block = 1; next }
        in_block && /^```/ { exit }
        in_block { print }' <<<"$readme")
    ((${#commands[@]})) ||
        die "found no commands in README.md's \"## The two commands\" sh block ($sha)"
else
    for cmd in "${commands[@]}"; do labels+=("$cmd"); done
fi
# The one change to the README's text: --no-fail-fast, so that every failing
# test binary is reported, not just the first.
run_commands=()
for cmd in "${commands[@]}"; do
    if [[ "$verbatim" -eq 0 && "$from_readme" -eq 1 && "$cmd" =~ cargo[[:space:]]+test([[:space:]]|$) && "$cmd" != *" -- "* && "$cmd" != *--no-fail-fast* ]]; then
        run_commands+=("$cmd --no-fail-fast")
    else
        run_commands+=("$cmd")
    fi
done

mkdir -p "$cache_dir/roots" "$cache_dir/debs" "$cache_dir/apt" "$cache_dir/fresh-runs" "$log_dir"

# ---- cleanup --------------------------------------------------------------------
# Each run holds a lock on fresh-runs/NAME.lock. A copy whose lock nobody holds is
# left over from a run that was killed, and is removed.
remove_copy() {
    local path="$1"
    [[ "$path" == "$cache_dir/fresh-runs/"?* ]] || die "refusing to remove '$path'"
    # Nothing is mounted there in this namespace (the mounts live in the
    # run's own namespace), so --one-file-system removes the whole copy.
    rm -rf --one-file-system -- "$path"
}
for lock in "$cache_dir"/fresh-runs/*.lock; do
    [[ -e "$lock" ]] || continue
    if flock -n "$lock" true 2>/dev/null; then
        stale="${lock%.lock}"
        if [[ -e "$stale" ]]; then
            log "removing the copy of an interrupted run: $stale"
            remove_copy "$stale"
        fi
        rm -f -- "$lock" "$stale.results"
    fi
done

current_copy=""
current_ns_pid=""
removers=()
# shellcheck disable=SC2317 # called from the traps
cleanup() {
    if [[ -n "$current_ns_pid" ]]; then
        # unshare ignores SIGTERM while it waits; SIGKILL it, and
        # --kill-child takes pid 1 of the namespace down with it, and with
        # pid 1 every process inside and every mount.
        kill -KILL "$current_ns_pid" 2>/dev/null || true
        wait "$current_ns_pid" 2>/dev/null || true
        current_ns_pid=""
    fi
    if [[ -n "$current_copy" ]]; then
        rm -f -- "$current_copy.results"
        if [[ "$keep" -eq 0 ]]; then
            remove_copy "$current_copy"
            rm -f -- "$current_copy.lock"
        fi
    fi
    current_copy=""
    if ((${#removers[@]})); then
        wait "${removers[@]}" 2>/dev/null || true
        removers=()
    fi
}
trap 'cleanup' EXIT
trap 'log "interrupted"; cleanup; exit 130' INT TERM HUP

# ---- one release ------------------------------------------------------------
# Writes the outcome to the summary arrays. Returns non-zero only on a failure
# of the check itself (root, copy, clone), not of a command.
summary=()
failed=0

check_release() {
    local release="$1" logf="$2"
    local root="$cache_dir/roots/$release-fresh"
    local t0 t1 t_root t_copy t_clone d

    # 1. The cached root: minbase, nothing else.
    t0="$(now)"
    local build_args=(--bare --release "$release" --dir "$root" --cache-dir "$cache_dir/debs/$release" "${mirror_args[@]}")
    [[ "$rebuild" -eq 0 ]] || build_args+=(--force)
    if ! "$TOP/ci/platform/build-root.sh" "${build_args[@]}" </dev/null >>"$logf" 2>&1; then
        log "$release: building the root failed; see $logf"
        return 1
    fi
    t1="$(now)"; t_root="$(secs "$t0" "$t1")"

    # 2. A pristine copy of it for this run.
    t0="$t1"
    local copy
    copy="$(mktemp -d "$cache_dir/fresh-runs/$release.XXXXXX")"
    current_copy="$copy"
    exec 8>"$copy.lock"
    flock -n 8 || die "cannot lock $copy.lock"
    rmdir "$copy"
    cp -a --reflink=auto "$root" "$copy"
    # Drop what build-root.sh leaves behind for its own use: its stamp files
    # and the empty mount points of the workspace that verified the root.
    rm -f -- "$copy/.memproxy-root-ready" "$copy/.memproxy-root-info"
    d="$copy$TOP"
    while [[ "$d" == "$copy"/?* ]] && rmdir -- "$d" 2>/dev/null; do d="$(dirname "$d")"; done
    # A fresh machine on this network: the host's resolver and certificate
    # trust, and the /etc/hosts the installer writes.
    cp -L /etc/resolv.conf "$copy/etc/resolv.conf"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' \
        >"$copy/etc/hosts"
    [[ -r /etc/ssl/certs/ca-certificates.crt ]] ||
        die "the host has no /etc/ssl/certs/ca-certificates.crt to give the root"
    # The same files the ca-certificates package would hold, so that cargo,
    # git and apt find them where they look on any Debian machine.
    for d in /etc/ssl/certs /usr/share/ca-certificates /usr/local/share/ca-certificates; do
        [[ ! -d "$d" ]] || { mkdir -p "$copy$d" && cp -a "$d/." "$copy$d/"; }
    done
    [[ ! -f /etc/ca-certificates.conf ]] || cp -a /etc/ca-certificates.conf "$copy/etc/"
    t1="$(now)"; t_copy="$(secs "$t0" "$t1")"

    # 3. A plain clone, as a user would make one: no target/.
    t0="$t1"
    local clone="$copy$CLONE_IN_ROOT"
    {
        printf '\n==== fresh: clone %s at %s\n' "$repo" "$sha"
        git clone -q --no-hardlinks --no-checkout "$repo" "$clone" &&
            { git -C "$clone" cat-file -e "$sha^{commit}" 2>/dev/null ||
                git -C "$clone" fetch -q origin "$sha"; } &&
            git -C "$clone" checkout -q --detach "$sha"
    } >>"$logf" 2>&1 || { log "$release: cloning $repo failed; see $logf"; return 1; }
    local spec
    for spec in "${uncommitted[@]}"; do
        {
            printf '==== fresh: uncommitted changes under %s\n' "$spec"
            git -C "$repo" diff --stat HEAD -- "$spec"
            git -C "$repo" diff --binary HEAD -- "$spec" | git -C "$clone" apply --binary --allow-empty
            git -C "$repo" ls-files -z --others --exclude-standard -- "$spec" |
                (cd "$repo" && tar -c --null --verbatim-files-from -T -) | tar -x -v -C "$clone"
        } >>"$logf" 2>&1 || { log "$release: copying uncommitted changes under $spec failed; see $logf"; return 1; }
    done
    t1="$(now)"; t_clone="$(secs "$t0" "$t1")"

    # 4. The commands, inside.
    local apt_cache="$cache_dir/apt/$release-fresh" results="$copy.results"
    mkdir -p "$apt_cache"
    : >"$results"
    local i
    {
        printf '\n==== fresh: %s root %s, Debian %s, toolchain %s\n' "$release" "$copy" \
            "$(cat "$copy/etc/debian_version")" "$("$cargo_bin/rustc" --version 2>/dev/null || echo '?')"
        for i in "${!run_commands[@]}"; do
            printf '==== fresh: command %d: %s\n' "$((i + 1))" "${run_commands[$i]}"
        done
    } >>"$logf"
    unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT
    unshare --mount --pid --fork --kill-child --propagation private -- \
        bash "$SELF" --inner "$copy" "$rustup_home" "$cargo_bin" "$apt_cache" "$tmp_on_disk" "$timeout" "$results" \
        "${run_commands[@]}" </dev/null >>"$logf" 2>&1 &
    current_ns_pid=$!
    local ns_status=0
    wait "$current_ns_pid" || ns_status=$?
    current_ns_pid=""

    # 5. The outcome. The time until cargo's first line is ci/setup's share.
    local n=0 status dur steps setup
    local -a setup_secs
    mapfile -t setup_secs < <(awk '
        /^==== fresh: command: / { if (n) print (s == "" ? "?" : s); n++; s = ""; next }
        n && s == "" && /^\[[0-9]+m[0-9]+s\] +(Updating|Locking|Downloading|Downloaded|Compiling|Fresh|Finished|Blocking|Checking|Running) / {
            split(substr($0, 2, index($0, "]") - 2), t, /[ms]/); s = t[1] * 60 + t[2] }
        END { if (n) print (s == "" ? "?" : s) }' "$logf")
    steps="root $(mmss "$t_root"), copy $(mmss "$t_copy"), clone $(mmss "$t_clone")"
    while read -r status dur; do
        local cmd="${run_commands[$n]}"
        setup="${setup_secs[$n]:-?}"
        [[ "$setup" == "?" ]] || setup="$(mmss "$setup")"
        n=$((n + 1))
        if [[ "$status" -eq 0 ]]; then
            summary+=("$release: PASS  $(mmss "$dur") (ci/setup $setup)  $cmd")
        else
            failed=1
            local why="exit $status"
            [[ "$status" -ne 124 ]] || why="timed out after ${timeout}s"
            summary+=("$release: FAIL  $(mmss "$dur") (ci/setup $setup)  $cmd  ($why)")
        fi
    done <"$results"
    if ((n < ${#run_commands[@]})); then
        failed=1
        summary+=("$release: FAIL  the root could not run the commands (status $ns_status); see $logf")
    fi
    summary+=("$release: steps: $steps")
    rm -f -- "$results"
    return 0
}

# Prints the failing tests and the end of the log of one release.
failure_details() {
    local release="$1" logf="$2"
    echo
    echo "---- $release: what ci/setup installed, failing tests, errors ($logf)"
    # The test harness's own lines, cargo's list of failed targets, panics,
    # and errors from ci/setup, apt and the compiler.
    grep -E '^\[[0-9m s]+\] (test .* \.\.\. FAILED$|test result: FAILED|---- .* stdout ----$|.*panicked at|error(\[E[0-9]+\])?: |E: |ci/setup: |    `-p |.*[Tt]ext file busy|.*cross-device)' "$logf" |
        sed -E 's/^\[[0-9m s]+\] //' | awk '!seen[$0]++' | head -n 80 || true
    echo "---- $release: last 60 lines of the log"
    tail -n 60 "$logf"
}

# ---- main -------------------------------------------------------------------------
log "repository $repo at $sha ($(git -C "$repo" log -1 --format=%s "$sha"))"
log "toolchain: $("$cargo_bin/rustc" --version 2>/dev/null || echo '?') from $rustup_home, mounted read-only"
for i in "${!run_commands[@]}"; do
    log "command $((i + 1)): ${run_commands[$i]}    (${labels[$i]})"
done
t_all="$(now)"
failed_releases=()
for release in "${releases[@]}"; do
    logf="$log_dir/$release.log"
    : >"$logf"
    log "$release: running (log: $logf)"
    t_rel="$(now)"
    if ! check_release "$release" "$logf"; then
        failed=1
        summary+=("$release: FAIL  the check could not run; see $logf")
    fi
    if [[ -n "$current_copy" && "$keep" -eq 1 ]]; then
        log "$release: kept the root's copy: $current_copy (the clone is at $current_copy$CLONE_IN_ROOT)"
        rm -f -- "$current_copy.lock"
    elif [[ -n "$current_copy" ]]; then
        # Removing a copy with its target/ takes half a minute: do it while
        # the next release runs. The remover holds the copy's lock (fd 8).
        (remove_copy "$current_copy"; rm -f -- "$current_copy.lock") &
        removers+=($!)
    fi
    current_copy=""
    exec 8>&-
    rel_total="$(secs "$t_rel" "$(now)")"
    summary+=("$release: total $(mmss "$rel_total")")
    printf '%s\n' "${summary[@]}" | grep "^$release: " | sed 's/^/fresh: /' >&2
    if grep -q "^$release: FAIL" < <(printf '%s\n' "${summary[@]}"); then
        failed_releases+=("$release")
    fi
done

if ((${#removers[@]})); then
    t_cleanup="$(now)"
    wait "${removers[@]}" 2>/dev/null || true
    removers=()
    log "removed the copies (waited $(mmss "$(secs "$t_cleanup" "$(now)")"))"
fi

echo
echo "==== ci/fresh/check.sh summary ($sha)"
printf '%s\n' "${summary[@]}"
echo "total $(mmss "$(secs "$t_all" "$(now)")")"
for release in "${failed_releases[@]}"; do
    failure_details "$release" "$log_dir/$release.log"
done
exit "$failed"
