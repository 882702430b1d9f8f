//! Fixes the default config path at build time, like the original's
//! `$(CONFIG_DIR)`; see `build_prefix.rs`. Refuses the code generation
//! options under which the plain hooks would be wrong.

include!("build_prefix.rs");

fn main() {
    println!("cargo:rerun-if-changed=build_prefix.rs");
    emit_prefix_paths();
    if let Err(why) = hooks_can_be_bare_jumps() {
        panic!("libmemproxy.so cannot be built {why}: see jump_through! in src/abi/mod.rs");
    }
}

/// The plain hooks are functions whose whole body is one jump through a slot
/// (`jump_through!` in src/abi/mod.rs). That is right only if rustc gives
/// them no prologue, which it does with `opt-level = 0` and with forced frame
/// pointers: the jumped-to function would then return to a pushed register.
fn hooks_can_be_bare_jumps() -> Result<(), &'static str> {
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut codegen = Vec::new();
    let mut flags = flags.split('\x1f');
    while let Some(flag) = flags.next() {
        match flag.strip_prefix("-C") {
            Some("") => codegen.extend(flags.next()),
            Some(option) => codegen.push(option),
            None => {}
        }
    }
    let flag_level = codegen
        .iter()
        .rev()
        .find_map(|option| option.strip_prefix("opt-level="));
    let profile_level = std::env::var("OPT_LEVEL").unwrap_or_default();
    if flag_level.unwrap_or(&profile_level) == "0" {
        return Err("with opt-level = 0");
    }
    let forced = codegen.iter().rev().find_map(|option| {
        let value = option.strip_prefix("force-frame-pointers")?;
        Some(!matches!(value, "=no" | "=n" | "=off" | "=false"))
    });
    if forced == Some(true) {
        return Err("with -C force-frame-pointers");
    }
    Ok(())
}
