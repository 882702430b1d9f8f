//! Which program this process is running.
//!
//! Both names come from the kernel, so they are the same however the program
//! was started (shell, `exec -a`, `env -i`, a service manager, a Python
//! subprocess). `argv[0]` and `$_` are chosen by the parent and are never
//! used.

use memproxy_config::Identity;

use crate::sys;

/// `AT_EXECFN` (the path passed to `execve`, as given) and the target of
/// `/proc/self/exe` (the binary actually mapped). An unavailable name is
/// empty: `/proc` not mounted, or a target longer than `exe_buf`.
pub fn identify(exe_buf: &mut [u8]) -> Identity<'_> {
    let execfn = sys::aux_string(libc::AT_EXECFN);
    let exe = sys::read_link(c"/proc/self/exe", exe_buf)
        .ok()
        .flatten()
        .unwrap_or(&[]);
    Identity { execfn, exe }
}
