# shellcheck shell=bash
# The packages of the trixie cross root, sourced by ci/cross/*.sh. Defines
# variables only. See ci/cross/README.md.

# The release: its rustc/cargo (1.85) ship std for i386 and arm64 as
# multiarch packages (libstd-rust-dev:ARCH).
CROSS_RELEASE=trixie
CROSS_FOREIGN_ARCHS=(i386 arm64)

# Installed with apt inside the root (build-root.sh --apt-add), after
# debootstrap: the toolchain, the cross compilers and their sysroots, qemu,
# and every target's C runtime and allocators. g++ (amd64) is for building
# x86_64 in the root too (build.sh --target x86_64-unknown-linux-gnu), which
# tells "needs Rust > 1.85" from "not portable".
CROSS_APT_PACKAGES=(
    rustc cargo
    libstd-rust-dev:i386 libstd-rust-dev:arm64
    gcc-i686-linux-gnu g++-i686-linux-gnu libc6-dev-i386-cross
    gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
    qemu-user
    g++ python3 file
)
# The run-time of each target (the amd64 ones come with the base root).
for cross_arch in i386 arm64; do
    CROSS_APT_PACKAGES+=(
        "libc6:$cross_arch" "libstdc++6:$cross_arch" "libgcc-s1:$cross_arch"
        "libjemalloc2:$cross_arch" "libmimalloc3:$cross_arch"
        "libtcmalloc-minimal4t64:$cross_arch" "libgoogle-perftools4t64:$cross_arch"
        "libtbbmalloc2:$cross_arch"
    )
done
unset cross_arch
CROSS_APT_PACKAGES+=(libtbbmalloc2)

# Rust target -> Debian architecture, GNU triplet (the cross gcc's prefix).
cross_deb_arch() {
    case "$1" in
        i686-unknown-linux-gnu) echo i386 ;;
        aarch64-unknown-linux-gnu) echo arm64 ;;
        x86_64-unknown-linux-gnu) echo amd64 ;;
        *) return 1 ;;
    esac
}
cross_gnu_triplet() {
    case "$1" in
        i686-unknown-linux-gnu) echo i686-linux-gnu ;;
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        x86_64-unknown-linux-gnu) echo x86_64-linux-gnu ;;
        *) return 1 ;;
    esac
}
