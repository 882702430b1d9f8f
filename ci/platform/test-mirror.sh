#!/usr/bin/env bash
# Tests build-root.sh's default mirror: the parsing of apt sources in
# apt-sources.sh (one-line and deb822 files) and the precedence of --mirror,
# MEMPROXY_DEBIAN_MIRROR and the host's sources. Needs no root and no
# network; exits non-zero on any failure.
#
#   ci/platform/test-mirror.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=ci/platform/apt-sources.sh
. "$here/apt-sources.sh"

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
failures=0
cases=0

# expect NAME WANTED: runs debian_mirror_from_apt on $work/NAME (an /etc/apt
# made below) and compares "URI<TAB>FILE" (FILE relative to it), or "none".
expect() {
    local name="$1" wanted="$2" got
    cases=$((cases + 1))
    if got="$(debian_mirror_from_apt "$work/$name")"; then
        got="${got/$'\t'$work\/$name\//$'\t'}"
    else
        got="none"
    fi
    if [[ "$got" == "$wanted" ]]; then
        printf 'ok   %s\n' "$name"
    else
        printf 'FAIL %s\n  wanted: %s\n  got:    %s\n' "$name" "${wanted//$'\t'/ <TAB> }" "${got//$'\t'/ <TAB> }"
        failures=$((failures + 1))
    fi
}

# apt_dir NAME: a fresh /etc/apt look-alike; files are written into it.
apt_dir() {
    mkdir -p "$work/$1/sources.list.d"
}

# One-line format: comments, deb-src, security and updates lines, a
# third-party repository with a 'main' component, options in brackets.
apt_dir one-line
cat >"$work/one-line/sources.list" <<'EOF'
# deb http://commented.example/debian bookworm main
deb-src http://deb.debian.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian bookworm-updates main
deb [signed-by=/usr/share/keyrings/vendor.gpg] https://apt.vendor.example/repo stable main
deb http://deb.debian.org/debian bookworm contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.de.debian.org/debian/ bookworm main contrib   # the one
deb http://deb.debian.org/debian bookworm main
EOF
expect one-line "http://ftp.de.debian.org/debian"$'\t'"sources.list"

# A mirror at another path is still the archive when Debian's keyring signs
# it; spaces inside the brackets are allowed.
apt_dir keyring
cat >"$work/keyring/sources.list" <<'EOF'
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://mirror.example/pub/debian-mirror trixie main
EOF
expect keyring "http://mirror.example/pub/debian-mirror"$'\t'"sources.list"

# Pre-bullseye security suites (bookworm/updates) and backports are skipped;
# cdrom: entries cannot be fetched by debootstrap.
apt_dir old-suites
cat >"$work/old-suites/sources.list" <<'EOF'
deb cdrom:[Debian GNU/Linux 10]/ buster main
deb http://security.debian.org/debian buster/updates main
deb http://deb.debian.org/debian buster-backports main
deb http://archive.debian.org/debian buster main
EOF
expect old-suites "http://archive.debian.org/debian"$'\t'"sources.list"

# deb822: the Debian 12 image's own debian.sources.
apt_dir deb822
cat >"$work/deb822/sources.list.d/debian.sources" <<'EOF'
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
expect deb822 "http://deb.debian.org/debian"$'\t'"sources.list.d/debian.sources"

# deb822: disabled and source-only stanzas, a security stanza first, field
# names in any case, an inline key on continuation lines, several URIs.
apt_dir deb822-stanzas
cat >"$work/deb822-stanzas/sources.list.d/mirrors.sources" <<'EOF'
Types: deb
URIs: https://deb.debian.org/debian-security/
Suites: trixie-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: trixie
Components: main
Enabled: no

Types: deb-src
URIs: http://source-only.example/debian
Suites: trixie
Components: main

types: deb deb-src
uris: ftp://ftp.example/pub/other http://ftp.fr.debian.org/debian/
suites: trixie-updates trixie
components: main non-free-firmware
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrF6nP+XIxnks
 -----END PGP PUBLIC KEY BLOCK-----
EOF
expect deb822-stanzas "http://ftp.fr.debian.org/debian"$'\t'"sources.list.d/mirrors.sources"

# apt's order: sources.list first, then sources.list.d by name, one-line
# and deb822 files mixed; other file names (.disabled, .save) are ignored.
apt_dir order
cat >"$work/order/sources.list" <<'EOF'
deb http://security.debian.org/debian-security bookworm-security main
EOF
cat >"$work/order/sources.list.d/a-nodesource.sources" <<'EOF'
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/nodesource.gpg
EOF
cat >"$work/order/sources.list.d/b-disabled.list.disabled" <<'EOF'
deb http://disabled.example/debian bookworm main
EOF
cat >"$work/order/sources.list.d/c-local.list" <<'EOF'
deb http://apt-cache.local:3142/debian bookworm main
EOF
cat >"$work/order/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
EOF
expect order "http://apt-cache.local:3142/debian"$'\t'"sources.list.d/c-local.list"

# Nothing usable: a clear "none", so build-root.sh can say so.
apt_dir none
cat >"$work/none/sources.list" <<'EOF'
deb http://security.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian bookworm-updates main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
EOF
expect none "none"
apt_dir empty
expect empty "none"

# build-root.sh itself: --help, and the precedence --mirror, then
# MEMPROXY_DEBIAN_MIRROR, then the host's apt sources.
build_root="$here/build-root.sh"
check() {
    local what="$1" wanted="$2" got="$3"
    cases=$((cases + 1))
    if [[ "$got" == "$wanted" ]]; then
        printf 'ok   %s\n' "$what"
    else
        printf 'FAIL %s\n  wanted: %s\n  got:    %s\n' "$what" "$wanted" "$got"
        failures=$((failures + 1))
    fi
}
help="$(env -u MEMPROXY_DEBIAN_MIRROR "$build_root" --help)" || help="(exit status $?)"
check "build-root.sh --help names the apt sources default" yes \
    "$([[ "$help" == *"first Debian main archive in this host's apt sources"* ]] && echo yes || echo no)"
check "--mirror wins" "http://given.example/debian"$'\t'"--mirror" \
    "$(MEMPROXY_DEBIAN_MIRROR=http://env.example/debian "$build_root" --mirror http://given.example/debian/ --print-mirror)"
check "MEMPROXY_DEBIAN_MIRROR next" "http://env.example/debian"$'\t'"MEMPROXY_DEBIAN_MIRROR" \
    "$(MEMPROXY_DEBIAN_MIRROR=http://env.example/debian "$build_root" --print-mirror)"
if host="$(debian_mirror_from_apt)"; then
    check "then this host's apt sources" "$host" \
        "$(env -u MEMPROXY_DEBIAN_MIRROR "$build_root" --print-mirror)"
else
    status=0
    message="$(env -u MEMPROXY_DEBIAN_MIRROR "$build_root" --print-mirror 2>&1)" || status=$?
    check "no Debian archive on this host: a clear error" "1 yes" \
        "$status $([[ "$message" == *"no Debian main archive in this host's apt sources"* ]] && echo yes || echo no)"
fi

echo "test-mirror: $((cases - failures))/$cases passed"
((failures == 0))
