#!/usr/bin/env bash
# Boots whole Debian systems with memproxy in /etc/ld.so.preload, under qemu,
# headless, and checks each boot; and the rescue drill.
#
#   ci/boot/run.sh                        Debian 13 + jemalloc, and the drill
#   ci/boot/run.sh --all                  Debian 12 and 13 x jemalloc, mimalloc,
#                                         tcmalloc, and the drill
#   ci/boot/run.sh --release bookworm --allocator mimalloc [--rescue-drill]
#
# options:
#   --release NAME     a Debian release (bookworm, trixie); repeatable
#   --allocator NAME   an allocator of memproxy/common/src/known-allocators.txt;
#                      repeatable
#   --rescue-drill     also run the rescue drill (on the first release)
#   --no-drill         leave the drill out of the default set
#   --all              every release and the three allocators, and the drill
#   --jobs N           VMs booted at once (default 2)
#   --timeout S        seconds one boot may take (default 600)
#
# Each release also boots once without memproxy, to compare the running
# units. Results: a table per release and allocator on stdout, and
# target/boot/report.md and report.json; each boot's console, report and
# time in target/boot/run/. Exits 1 when a check fails. Run as root. See
# ci/boot/README.md.

# The boot functions run as background jobs, called by name:
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
# shellcheck source=ci/boot/lib.sh
. "$here/lib.sh"

releases=()
allocators=()
drill=default
jobs=2
timeout=600
while (($#)); do
    case "$1" in
        --release) releases+=("${2:?--release needs a value}"); shift 2 ;;
        --allocator) allocators+=("${2:?--allocator needs a value}"); shift 2 ;;
        --rescue-drill) drill=yes; shift ;;
        --no-drill) drill=no; shift ;;
        --all) releases=(bookworm trixie); allocators=(jemalloc mimalloc tcmalloc); drill=yes; shift ;;
        --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
        --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
        -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
# Nothing chosen: the CI set. A release or allocator chosen: those boots,
# and the drill only when asked for.
if [[ $drill == default ]]; then
    if ((${#releases[@]} + ${#allocators[@]} == 0)); then drill=yes; else drill=no; fi
fi
if ((${#releases[@]} == 0)); then releases=(trixie); fi
if ((${#allocators[@]} == 0)); then allocators=(jemalloc); fi
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number, got '$jobs'"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a positive number of seconds, got '$timeout'"
[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, mkfs of root-owned trees)"
require_qemu
for release in "${releases[@]}"; do
    for allocator in "${allocators[@]}"; do
        allocator_file "$release" "$allocator" >/dev/null ||
            die "no allocator '$allocator' for '$release' in $known_allocators"
    done
done

started=$(date +%s)
declare -A images
for release in "${releases[@]}"; do
    images[$release]=$("$here/image.sh" --release "$release")
done
accel=$(choose_accelerator "${images[${releases[0]}]}/vmlinuz")
run=$top/target/boot/run
rm -rf "$run"
mkdir -p "$run"

preload_line() { printf '# memproxy enable\n/usr/local/lib/libmemproxy.so %s\n' "$1"; }

# One boot of RELEASE with ALLOCATOR ("none": no preload file).
boot_one() {
    local release=$1 allocator=$2 dir=$run/$1-$2 preload=none
    mkdir -p "$dir"
    cp --sparse=always "${images[$release]}/disk.img" "$dir/disk.img"
    if [[ $allocator != none ]]; then
        preload=$(preload_line "$(allocator_file "$release" "$allocator")")$'\n'
    fi
    set_preload "$dir/disk.img" "$preload"
    boot_vm "$dir" "$dir/disk.img" "${images[$release]}" "$accel" "$timeout" rw
    rm -f "$dir/disk.img"
}

# The rescue drill: a preload file whose memproxy line names a library that
# aborts in its constructor (and a foreign entry, glibc, to be kept); boot
# (PID 1 aborts: kernel panic), boot with init=memproxy (repairs, continues),
# boot again (running); broken again, init=memproxy -- reboot (repairs,
# reboots). Verdicts in $run/drill/verdict.
drill_boots() {
    local release=$1 dir=$run/drill disk
    local foreign=/usr/lib/$multiarch/libc.so.6
    mkdir -p "$dir"
    disk=$dir/disk.img
    cp --sparse=always "${images[$release]}/disk.img" "$disk"
    set_preload "$disk" "$(preload_line /usr/local/lib/libcrash-ctor.so)"$'\n'"$foreign"$'\n'
    boot_vm "$dir/1-broken" "$disk" "${images[$release]}" "$accel" "$timeout" rw
    # ro: the rescue must remount / itself.
    boot_vm "$dir/2-rescue" "$disk" "${images[$release]}" "$accel" "$timeout" \
        "ro init=/usr/local/bin/memproxy"
    debugfs -R "cat /etc/ld.so.preload" "$disk" >"$dir/preload-after-rescue" 2>/dev/null || true
    debugfs -R "cat /etc/ld.so.preload.memproxy-prev" "$disk" >"$dir/preload-prev" 2>/dev/null || true
    boot_vm "$dir/3-next" "$disk" "${images[$release]}" "$accel" "$timeout" rw
    # Broken again, and the variant that reboots instead of continuing.
    set_preload "$disk" "$(preload_line /usr/local/lib/libcrash-ctor.so)"$'\n'"$foreign"$'\n'
    boot_vm "$dir/4-rescue-reboot" "$disk" "${images[$release]}" "$accel" "$timeout" \
        "ro init=/usr/local/bin/memproxy -- reboot"
    debugfs -R "cat /etc/ld.so.preload" "$disk" >"$dir/preload-after-reboot" 2>/dev/null || true
    rm -f "$disk"
    {
        verdict() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }
        local outcome seconds ok
        outcome=$(cat "$dir/1-broken/outcome") seconds=$(cat "$dir/1-broken/seconds")
        ok=no
        if [[ $outcome == panic ]] && grep -q 'Attempted to kill init' "$dir/1-broken/console.log"; then ok=yes; fi
        verdict "broken preload: the boot fails (PID 1 aborts, kernel panic)" "$ok" "$outcome" "$seconds"
        outcome=$(cat "$dir/2-rescue/outcome") seconds=$(cat "$dir/2-rescue/seconds")
        ok=yes
        for line in 'memproxy: started as init (PID 1)' 'remounted / read-write' \
            'disabled: wrote /etc/ld.so.preload' 'memproxy: continuing the boot: exec /sbin/init'; do
            grep -qF "$line" "$dir/2-rescue/console.log" || ok=no
        done
        verdict "init=/usr/local/bin/memproxy: repairs the file, the boot continues" "$ok" "$outcome" "$seconds"
        ok=no
        if [[ $(cat "$dir/preload-after-rescue") == "$foreign" ]] &&
            grep -q libcrash-ctor "$dir/preload-prev"; then ok=yes; fi
        verdict "the file keeps the foreign entry only; the old one in .memproxy-prev" "$ok" \
            "$(tr '\n' ' ' <"$dir/preload-after-rescue")" -
        outcome=$(cat "$dir/3-next/outcome") seconds=$(cat "$dir/3-next/seconds")
        ok=no
        if [[ $outcome == reported && $(cat "$dir/3-next/report/system-state") == running &&
            ! -s $dir/3-next/report/failed-units ]]; then ok=yes; fi
        verdict "the next boot reaches running, no failed unit" "$ok" \
            "$outcome $(cat "$dir/3-next/report/system-state" 2>/dev/null)" "$seconds"
        outcome=$(cat "$dir/4-rescue-reboot/outcome") seconds=$(cat "$dir/4-rescue-reboot/seconds")
        ok=no
        if [[ $outcome == rebooted && $(cat "$dir/preload-after-reboot") == "$foreign" ]] &&
            grep -qF 'memproxy: rebooting' "$dir/4-rescue-reboot/console.log"; then ok=yes; fi
        verdict "init=/usr/local/bin/memproxy -- reboot: repairs the file, reboots" "$ok" \
            "$outcome" "$seconds"
    } >"$dir/verdict"
}

# At most $jobs VMs at once.
pending=()
for release in "${releases[@]}"; do
    pending+=("boot_one $release none")
    for allocator in "${allocators[@]}"; do pending+=("boot_one $release $allocator"); done
done
[[ $drill == yes ]] && pending=("drill_boots ${releases[0]}" "${pending[@]}")
log "${#pending[@]} jobs on $accel, $jobs at once: ${pending[*]}"
running=0
for job in "${pending[@]}"; do
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
    $job &
    running=$((running + 1))
done
wait

status=0
python3 "$here/check.py" "$run" "$known_allocators" || status=1
if [[ $drill == yes ]]; then
    if [[ ! -s $run/drill/verdict ]]; then
        printf 'no verdict\tno\tthe drill stopped early (see its log above)\t-\n' >"$run/drill/verdict"
    fi
    echo
    echo "Rescue drill (${releases[0]}):"
    awk -F'\t' '{ printf "  %-3s  %-70s %s (%s s)\n", $2, $1, $3, $4 }' "$run/drill/verdict"
    {
        printf '\n## Rescue drill (%s)\n\n| step | passed | outcome | seconds |\n|---|---|---|---|\n' "${releases[0]}"
        awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$run/drill/verdict"
    } >>"$run/report.md"
    if grep -qP '\tno\t' "$run/drill/verdict"; then status=1; fi
fi
cp "$run/report.md" "$run/report.json" "$top/target/boot/"
echo
log "total $(($(date +%s) - started)) s; report in target/boot/report.md"
exit "$status"
