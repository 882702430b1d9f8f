//! Private mount namespaces where `/` is not a mount point.
//!
//! The tests and `memproxy enable`'s pre-flight bind files over
//! `/etc/ld.so.preload` in a new mount namespace, made private first so that
//! the binds never reach the host. In a chroot of a plain directory that is
//! impossible: `/` is no mount point, so its propagation cannot be changed,
//! and the mount that holds it cannot be named from inside. A new namespace
//! then keeps that mount's propagation, and is safe to use only if the
//! mount is not shared with the parent namespace. [`BIND_LEAK_CHECK`] finds
//! out by doing it once, harmlessly.

/// A `/bin/sh` script to run in a fresh mount namespace whose propagation
/// was left unchanged (`unshare --mount --propagation unchanged`, so that
/// its parent is the process that must not see the bind): it binds `/etc`
/// onto itself (the same files), counts the parent namespace's mounts on
/// `/etc` before and after, undoes the bind, and exits 3 with a message if
/// the bind reached the parent, 2 if it could not bind, 0 if the namespace
/// is safe.
pub const BIND_LEAK_CHECK: &str = r#"count() {
    n=0
    while read -r _ _ _ _ point _; do [ "$point" = /etc ] && n=$((n + 1)); done \
        <"/proc/$PPID/mountinfo"
    echo "$n"
}
before=$(count) && mount --bind /etc /etc || exit 2
after=$(count); umount /etc
[ "$after" = "$before" ] || { echo "the bind reached the parent namespace"; exit 3; }"#;

/// Whether `/` is a mount point, from the text of `/proc/self/mountinfo`.
pub fn root_is_mount_point(mountinfo: &str) -> bool {
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some("/"))
}
