# shellcheck shell=bash
# Shared by ci/boot's scripts: messages, the cache, the allocator table and
# one VM boot. Defines functions and variables only; the sourcing script
# sets $top, the repository's top directory.
# shellcheck disable=SC2034,SC2154 # used by the scripts that source it

cache=${MEMPROXY_BOOT_CACHE:-/var/cache/memproxy-ci/boot}
known_allocators=$top/memproxy/common/src/known-allocators.txt
multiarch=x86_64-linux-gnu

log() { printf 'ci/boot: %s\n' "$*" >&2; }
die() { printf 'ci/boot: error: %s\n' "$*" >&2; exit 1; }

# "NAME FILE" of each allocator known for RELEASE, from the table the code
# reads too.
allocator_files() {
    awk -v release="$1" '{ sub(/#.*/, "") } $1 == release && NF >= 4 { print $2, $3 }' \
        "$known_allocators"
}

# The library file of allocator NAME on RELEASE; fails when it is unknown.
allocator_file() {
    local file
    file=$(allocator_files "$1" | awk -v name="$2" '$1 == name { print $2 }')
    [[ -n $file ]] || return 1
    echo "/usr/lib/$multiarch/$file"
}

# Fails with the command that installs qemu when it is missing.
require_qemu() {
    qemu-system-x86_64 --version >/dev/null 2>&1 ||
        die "qemu-system-x86_64 is missing or does not run: install it with 'apt-get install -y --no-install-recommends qemu-system-x86' (or ./ci/setup qemu-system-x86)"
    command -v debugfs >/dev/null ||
        die "debugfs not found: install it with 'apt-get install -y e2fsprogs'"
}

# The accelerator: KVM if a kernel boots under it within a few seconds (on
# these machines /dev/kvm exists but nested guests make no progress), else
# TCG. The probe boots the image's kernel without a root, which panics at
# once, so a working KVM answers in about a second.
choose_accelerator() {
    local kernel=$1 probe
    if [[ -n ${MEMPROXY_BOOT_ACCEL:-} ]]; then
        echo "$MEMPROXY_BOOT_ACCEL"
        return
    fi
    if [[ ! -w /dev/kvm ]]; then
        log "no usable /dev/kvm: TCG"
        echo tcg
        return
    fi
    probe=$(timeout 15 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none \
        -nodefaults -no-reboot -serial stdio -kernel "$kernel" \
        -append "console=ttyS0 panic=-1" </dev/null 2>&1 || true)
    if grep -q 'Linux version' <<<"$probe"; then
        log "KVM works: using it"
        echo kvm
    else
        log "KVM probe: no kernel banner within 15 s ($(tail -n1 <<<"$probe" | cut -c1-120)): TCG"
        echo tcg
    fi
}

# Writes CONTENTS (or nothing, when CONTENTS is the word "none") as
# /etc/ld.so.preload into the ext4 image DISK, without mounting it.
set_preload() {
    local disk=$1 contents=$2 file
    file=$(mktemp)
    printf '%s' "$contents" >"$file"
    {
        echo "rm /etc/ld.so.preload"
        if [[ $contents != none ]]; then
            echo "write $file /etc/ld.so.preload"
            # ld.so of every user reads it.
            echo "sif /etc/ld.so.preload mode 0100644"
            echo "sif /etc/ld.so.preload uid 0"
            echo "sif /etc/ld.so.preload gid 0"
        fi
    } | debugfs -w -f - "$disk" >/dev/null 2>&1
    rm -f "$file"
    if [[ $contents != none ]]; then
        [[ $(debugfs -R "cat /etc/ld.so.preload" "$disk" 2>/dev/null) == "$(printf '%s' "$contents")" ]] ||
            die "could not write /etc/ld.so.preload into $disk"
    fi
}

# boot_vm DIR DISK IMAGE ACCEL TIMEOUT EXTRA_CMDLINE: boots DISK with the
# image's kernel, a fresh report disk and the console in DIR/console.log;
# the report, if the guest wrote one, is unpacked into DIR/report. Records
# the outcome (reported, panic, rebooted, timeout, no-report) and the time
# in DIR.
boot_vm() {
    local dir=$1 disk=$2 image=$3 accel=$4 timeout=$5 extra=$6 started status outcome
    mkdir -p "$dir"
    rm -rf "$dir/report" "$dir/report.img"
    truncate -s 64M "$dir/report.img"
    local cpu=()
    [[ $accel == kvm ]] && cpu=(-cpu host)
    started=$(date +%s)
    status=0
    # panic=-1 and -no-reboot: a kernel panic ends qemu at once.
    timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel "$accel" "${cpu[@]}" \
        -m 1024 -smp 1 -display none -nodefaults -no-reboot -nic none \
        -serial "file:$dir/console.log" \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda console=ttyS0 panic=-1 $extra" \
        -drive "file=$disk,format=raw,if=virtio" \
        -drive "file=$dir/report.img,format=raw,if=virtio" \
        </dev/null >"$dir/qemu.log" 2>&1 || status=$?
    echo $(($(date +%s) - started)) >"$dir/seconds"
    mkdir -p "$dir/report"
    if tar -xf "$dir/report.img" -C "$dir/report" 2>/dev/null && [[ -f $dir/report/system-state ]]; then
        outcome=reported
    elif grep -q 'Kernel panic' "$dir/console.log" 2>/dev/null; then
        outcome=panic
    elif grep -q 'reboot: Restarting system' "$dir/console.log" 2>/dev/null; then
        # -no-reboot: qemu exits instead.
        outcome=rebooted
    elif ((status == 124 || status == 137)); then
        outcome=timeout
    else
        outcome=no-report
    fi
    rm -f "$dir/report.img"
    echo "$outcome" >"$dir/outcome"
    log "$(basename "$dir"): $outcome after $(cat "$dir/seconds") s (qemu status $status)"
    if [[ $outcome == timeout || $outcome == no-report ]]; then
        log "the last 50 console lines of $(basename "$dir"):"
        if [[ -s $dir/console.log ]]; then
            tail -n 50 "$dir/console.log" | sed 's/^/  | /' >&2
        else
            log "(no console output; qemu said:)"
            sed 's/^/  | /' "$dir/qemu.log" >&2
        fi
    fi
}
