//! What a run under a user-mode emulator cannot show.
//!
//! ci/cross/run.sh runs the aarch64 matrix under qemu-user, through a
//! binfmt_misc entry, and says so in [`EMULATOR_VAR`]. There, the kernel
//! starts the emulator for each aarch64 program, and the emulator builds the
//! program's auxiliary vector itself. For a shebang script whose
//! interpreter is an aarch64 program, qemu-user's `AT_EXECFN` names the
//! interpreter, where the kernel's own exec names the script (checked with a
//! program printing `getauxval(AT_EXECFN)`, run directly and through a
//! script: the same path both times under qemu-aarch64). memproxy matches
//! the name `AT_EXECFN` gives, so a listed script cannot be told from its
//! interpreter there. Those groups are reported as not run, with this
//! reason, rather than failed or dropped.

use crate::names::NameCase;

/// Set by the runner to the emulator's name when programs run emulated.
pub const EMULATOR_VAR: &str = "MEMPROXY_HARNESS_EMULATOR";

/// Why `case` cannot run faithfully under the emulator named in
/// [`EMULATOR_VAR`], if it is set and the case needs what the emulator
/// changes.
pub fn cannot_run(case: &NameCase) -> Option<String> {
    let emulator = std::env::var(EMULATOR_VAR)
        .ok()
        .filter(|name| !name.is_empty())?;
    (case.id == "script").then(|| {
        format!(
            "not run under {emulator}: its AT_EXECFN names a script's interpreter, \
             not the script, as the kernel's exec would"
        )
    })
}
