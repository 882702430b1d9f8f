//! The machine code of libmemproxy.so's plain hooks: every export that only
//! forwards through a slot must be that architecture's trampoline, jumping
//! through exactly the slot its name forwards to.
//!
//! The shapes (see memproxy's `abi` module for why each is what it is):
//! - x86_64: `jmp qword ptr [rip + disp32]` (`ff 25 disp32`);
//! - i686: `call` to a thunk that is `mov reg, [esp]; ret` (reg one of eax,
//!   ecx, edx, free at the entry of a cdecl function), then
//!   `jmp dword ptr [reg + disp32]` (`ff a0+reg disp32`), the displacement
//!   relative to the address the thunk returned;
//! - aarch64: `adrp xN, page; add xN, xN, #lo12; ldar xN, [xN]; br xN`, with
//!   N 16 or 17 (the intra-procedure-call scratch registers: x0-x7 carry
//!   arguments and x8 the address of a returned struct, as for `mallinfo`).
//!
//! The address each hook loads from must be the local symbol
//! `memproxy_slot_<slot>` that the library defines for every slot, inside the
//! writable object `SLOTS`. Which hooks are plain, and the slot each forwards
//! through, is restated here from the specification of the exports (a
//! routed function and sized or new operator through its own slot, `cfree`
//! and the unsized `operator delete`s through `free`'s), not read from
//! memproxy's code.

use std::fmt;

use memproxy_common::contracts::Contract;

use object::{
    Architecture, Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind, elf::SHF_WRITE,
};

/// The trampoline shapes, one per architecture memproxy builds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    I686,
    Aarch64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::I686 => "i686",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// The allocation API's functions, each forwarding through its own slot.
/// (`calloc` and `posix_memalign` too: their slots hold memproxy's checked
/// functions unless the allocator is proven to keep their contract.)
const CORE: [&str; 11] = [
    "malloc",
    "free",
    "calloc",
    "realloc",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "malloc_trim",
];

/// glibc functions allocators are known to take over: memproxy exports each,
/// forwarding through its own slot.
pub const TAKEN_OVER: [&str; 14] = [
    "__libc_malloc",
    "__libc_free",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__libc_valloc",
    "__libc_pvalloc",
    "strdup",
    "strndup",
    "mallinfo",
    "mallinfo2",
    "mallopt",
    "malloc_stats",
    "malloc_info",
];

/// The C++ operators with a slot of their own, which holds the allocator's
/// operator where it is proven to keep the contract: every function of the
/// operators' contracts in memproxy-common's table, as `(LP64, ILP32)` names
/// (`size_t` mangles as `m` on 64-bit Linux and `j` on 32-bit Linux). Each
/// slot is named after the LP64 symbol.
fn operators() -> impl Iterator<Item = (&'static str, &'static str)> {
    [
        Contract::ThrowingNew,
        Contract::NothrowNew,
        Contract::SizedDelete,
    ]
    .into_iter()
    .flat_map(|contract| contract.functions().iter().copied())
}

/// Exports that forward through `free`'s slot: `cfree` and the unsized
/// operator deletes (no `size_t` in their names).
const VIA_FREE: [&str; 9] = [
    "cfree",
    "_ZdlPv",
    "_ZdaPv",
    "_ZdlPvRKSt9nothrow_t",
    "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t",
    "_ZdaPvSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
];

/// A plain hook: the exported symbol and the slot it forwards through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainHook {
    pub symbol: &'static str,
    pub slot: &'static str,
}

/// Every plain hook of a library whose pointers are `pointer_bits` wide:
/// every export but `reallocarray`, which checks its arguments first.
pub fn plain_hooks(pointer_bits: u32) -> Vec<PlainHook> {
    let routed = CORE.iter().chain(&TAKEN_OVER).map(|&name| PlainHook {
        symbol: name,
        slot: name,
    });
    let operators = operators().map(|(lp64, ilp32)| PlainHook {
        symbol: if pointer_bits == 64 { lp64 } else { ilp32 },
        slot: lp64,
    });
    let via_free = VIA_FREE.iter().map(|&name| PlainHook {
        symbol: name,
        slot: "free",
    });
    routed.chain(operators).chain(via_free).collect()
}

/// The prefix of the local symbol memproxy defines at each slot.
pub const SLOT_SYMBOL_PREFIX: &str = "memproxy_slot_";

/// Each slot of a libmemproxy.so, from its local symbols in `.symtab`: the
/// slot's name (`memproxy_slot_<name>`) and its address in the file.
pub fn slot_symbols<'data>(file: &impl Object<'data>) -> Vec<(String, u64)> {
    file.symbols()
        .filter_map(|symbol| {
            let name = symbol.name().ok()?.strip_prefix(SLOT_SYMBOL_PREFIX)?;
            Some((name.to_owned(), symbol.address()))
        })
        .collect()
}

/// One hook as found: where it loads its target from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub hook: PlainHook,
    pub entry: u64,
    pub loads_from: u64,
}

/// What was checked in one library.
#[derive(Debug)]
pub struct Checked {
    pub arch: Arch,
    pub hooks: Vec<Hook>,
    /// Each hook that is not its trampoline, or not through its slot.
    pub failures: Vec<String>,
}

impl Checked {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.hooks.len() + self.failures.len();
        writeln!(
            f,
            "{}: {} of {} plain hooks are one {} trampoline through their own slot",
            self.arch,
            self.hooks.len(),
            total,
            self.arch
        )?;
        for failure in &self.failures {
            writeln!(f, "  FAIL {failure}")?;
        }
        Ok(())
    }
}

/// Checks every plain hook of the ELF library in `bytes` (ELF32 or ELF64,
/// the architecture from `e_machine`). `Err` when the file cannot be read as
/// such a library at all.
pub fn check_library(bytes: &[u8]) -> Result<Checked, String> {
    let file = object::File::parse(bytes).map_err(|error| format!("not an ELF file: {error}"))?;
    let arch = match file.architecture() {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::I386 => Arch::I686,
        Architecture::Aarch64 => Arch::Aarch64,
        other => return Err(format!("no trampoline shape is defined for {other:?}")),
    };
    let pointer_bits = if file.is_64() { 64 } else { 32 };
    let slots = file
        .symbols()
        .find(|symbol| {
            symbol
                .name()
                .is_ok_and(|name| name.contains("memproxy5table5SLOTS"))
        })
        .ok_or("no SLOTS in .symtab (was the library stripped?)")?;
    let slots_range = slots.address()..slots.address() + slots.size();
    let slot_symbols = slot_symbols(&file);
    let memory = |address: u64, length: usize| read_at(&file, address, length);

    let mut checked = Checked {
        arch,
        hooks: Vec::new(),
        failures: Vec::new(),
    };
    for hook in plain_hooks(pointer_bits) {
        let exported = file.dynamic_symbols().find(|symbol| {
            symbol.name() == Ok(hook.symbol)
                && symbol.is_definition()
                && symbol.kind() == SymbolKind::Text
        });
        let Some(exported) = exported else {
            checked
                .failures
                .push(format!("{}: not exported as a function", hook.symbol));
            continue;
        };
        let entry = exported.address();
        let judged = slot_address(arch, entry, &memory).and_then(|loads_from| {
            let slot = slot_symbols
                .iter()
                .find(|(_, address)| *address == loads_from)
                .map(|(name, _)| name.as_str());
            if slot != Some(hook.slot) {
                return Err(format!(
                    "loads from {loads_from:#x}, which is {}, not {SLOT_SYMBOL_PREFIX}{}",
                    slot.map_or("no slot".to_owned(), |name| format!(
                        "{SLOT_SYMBOL_PREFIX}{name}"
                    )),
                    hook.slot
                ));
            }
            if !slots_range.contains(&loads_from) || !writable(&file, loads_from) {
                return Err(format!(
                    "loads from {loads_from:#x}, outside the writable SLOTS at {:#x}..{:#x}",
                    slots_range.start, slots_range.end
                ));
            }
            Ok(loads_from)
        });
        match judged {
            Ok(loads_from) => checked.hooks.push(Hook {
                hook,
                entry,
                loads_from,
            }),
            Err(why) => checked
                .failures
                .push(format!("{} at {entry:#x}: {why}", hook.symbol)),
        }
    }
    Ok(checked)
}

/// `length` bytes at virtual address `address`, from the section holding them.
fn read_at(file: &object::File<'_>, address: u64, length: usize) -> Option<Vec<u8>> {
    file.sections().find_map(|section| {
        let start = address.checked_sub(section.address())?;
        let end = start.checked_add(length as u64)?;
        if end > section.size() {
            return None;
        }
        let data = section.data().ok()?;
        data.get(start as usize..end as usize).map(<[u8]>::to_vec)
    })
}

fn writable(file: &object::File<'_>, address: u64) -> bool {
    file.sections().any(|section| {
        let inside = (section.address()..section.address() + section.size()).contains(&address);
        let write = match section.flags() {
            SectionFlags::Elf { sh_flags } => sh_flags & u64::from(SHF_WRITE) != 0,
            _ => false,
        };
        inside && write
    })
}

/// Decodes the trampoline at `entry` and returns the address it loads its
/// jump target from; `Err` says how the code differs from `arch`'s shape.
/// `memory(address, length)` reads the mapped image.
pub fn slot_address(
    arch: Arch,
    entry: u64,
    memory: &dyn Fn(u64, usize) -> Option<Vec<u8>>,
) -> Result<u64, String> {
    let read = |address: u64, length: usize| {
        memory(address, length).ok_or_else(|| format!("cannot read {length} bytes at {address:#x}"))
    };
    match arch {
        Arch::X86_64 => {
            let code = read(entry, 6)?;
            if code[..2] != [0xff, 0x25] {
                return Err(format!(
                    "is not `jmp qword ptr [rip + disp32]` (ff 25): {code:02x?}"
                ));
            }
            Ok((entry + 6).wrapping_add_signed(i64::from(i32_at(&code, 2))))
        }
        Arch::I686 => {
            let code = read(entry, 11)?;
            if code[0] != 0xe8 {
                return Err(format!(
                    "does not start with `call rel32` (e8): {code:02x?}"
                ));
            }
            let anchor = (entry + 5) as u32;
            let thunk = anchor.wrapping_add_signed(i32_at(&code, 1));
            let thunk_code = read(u64::from(thunk), 4)?;
            let register = match thunk_code[..] {
                [0x8b, modrm, 0x24, 0xc3] if modrm & 0xc7 == 0x04 && modrm >> 3 & 7 <= 2 => {
                    modrm >> 3 & 7
                }
                _ => {
                    return Err(format!(
                        "calls {thunk:#x}, which is not `mov eax|ecx|edx, [esp]; ret`: {thunk_code:02x?}"
                    ));
                }
            };
            if code[5..7] != [0xff, 0xa0 | register] {
                return Err(format!(
                    "after the thunk, is not `jmp dword ptr [{} + disp32]` (ff {:02x}): {:02x?}",
                    ["eax", "ecx", "edx"][usize::from(register)],
                    0xa0 | register,
                    &code[5..]
                ));
            }
            Ok(u64::from(anchor.wrapping_add_signed(i32_at(&code, 7))))
        }
        Arch::Aarch64 => {
            let code = read(entry, 16)?;
            let word = |index: usize| {
                u32::from_le_bytes(code[index * 4..index * 4 + 4].try_into().expect("4 bytes"))
            };
            let (adrp, add, ldar, br) = (word(0), word(1), word(2), word(3));
            let shape = || format!("{adrp:08x} {add:08x} {ldar:08x} {br:08x}");
            let register = adrp & 0x1f;
            if adrp & 0x9f00_0000 != 0x9000_0000 {
                return Err(format!("does not start with `adrp`: {}", shape()));
            }
            if register != 16 && register != 17 {
                return Err(format!("uses x{register}, not x16 or x17: {}", shape()));
            }
            let same = register | register << 5;
            if add & 0xffc0_03ff != 0x9100_0000 | same {
                return Err(format!(
                    "second is not `add x{register}, x{register}, #lo12`: {}",
                    shape()
                ));
            }
            if ldar != 0xc8df_fc00 | same {
                return Err(format!(
                    "third is not `ldar x{register}, [x{register}]` (an acquire load): {}",
                    shape()
                ));
            }
            if br != 0xd61f_0000 | register << 5 {
                return Err(format!("fourth is not `br x{register}`: {}", shape()));
            }
            let pages = i64::from(((adrp >> 5 & 0x7ffff) << 2 | adrp >> 29 & 3) as i32) << 43 >> 31;
            let page = (entry & !0xfff).wrapping_add_signed(pages);
            Ok(page + u64::from(add >> 10 & 0xfff))
        }
    }
}

fn i32_at(code: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(code[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory of one code block at `base`, and nothing else.
    fn image(base: u64, code: Vec<u8>) -> impl Fn(u64, usize) -> Option<Vec<u8>> {
        move |address, length| {
            let start = usize::try_from(address.checked_sub(base)?).ok()?;
            code.get(start..start + length).map(<[u8]>::to_vec)
        }
    }

    #[test]
    fn x86_64_one_rip_relative_jump() {
        // 0x1000: jmp qword ptr [rip + 0xffa]  -> loads from 0x1006 + 0xffa
        let memory = image(0x1000, vec![0xff, 0x25, 0xfa, 0x0f, 0x00, 0x00]);
        assert_eq!(slot_address(Arch::X86_64, 0x1000, &memory), Ok(0x2000));
        // a negative displacement: the slot below the code
        let memory = image(0x3000, vec![0xff, 0x25, 0xfa, 0xff, 0xff, 0xff]);
        assert_eq!(slot_address(Arch::X86_64, 0x3000, &memory), Ok(0x3000));
    }

    #[test]
    fn x86_64_load_then_jump_is_rejected() {
        // mov rax, [rip + 0xffa]; jmp rax: what rustc made of the Rust hook
        let memory = image(
            0x1000,
            vec![0x48, 0x8b, 0x05, 0xfa, 0x0f, 0x00, 0x00, 0xff, 0xe0],
        );
        let error = slot_address(Arch::X86_64, 0x1000, &memory).unwrap_err();
        assert!(error.contains("ff 25"), "{error}");
    }

    /// call thunk; jmp dword ptr [reg + disp32], at 0x1000, and the thunk
    /// `thunk` at 0x1010.
    fn i686_hook(jmp_modrm: u8, disp: i32, thunk: [u8; 4]) -> Vec<u8> {
        let mut code = vec![0xe8, 0x0b, 0x00, 0x00, 0x00]; // 0x1005 + 0x0b = 0x1010
        code.extend([0xff, jmp_modrm]);
        code.extend(disp.to_le_bytes());
        code.extend([0xcc; 5]); // up to 0x1010
        code.extend(thunk);
        code
    }

    #[test]
    fn i686_thunk_then_one_jump_relative_to_its_answer() {
        for (register, modrm) in [(0u8, 0xa0u8), (1, 0xa1), (2, 0xa2)] {
            let thunk = [0x8b, 0x04 | register << 3, 0x24, 0xc3]; // mov reg, [esp]; ret
            let memory = image(0x1000, i686_hook(modrm, 0x2ffb, thunk));
            assert_eq!(
                slot_address(Arch::I686, 0x1000, &memory),
                Ok(0x1005 + 0x2ffb),
                "register {register}"
            );
        }
        let memory = image(0x1000, i686_hook(0xa0, -0x5, [0x8b, 0x04, 0x24, 0xc3]));
        assert_eq!(slot_address(Arch::I686, 0x1000, &memory), Ok(0x1000));
    }

    #[test]
    fn i686_wrong_shapes_are_rejected() {
        // the thunk answers in ecx, the jump reads eax
        let memory = image(0x1000, i686_hook(0xa0, 0x100, [0x8b, 0x0c, 0x24, 0xc3]));
        let error = slot_address(Arch::I686, 0x1000, &memory).unwrap_err();
        assert!(error.contains("ecx"), "{error}");
        // a thunk into ebx, which the caller expects preserved
        let memory = image(0x1000, i686_hook(0xa3, 0x100, [0x8b, 0x1c, 0x24, 0xc3]));
        assert!(
            slot_address(Arch::I686, 0x1000, &memory)
                .unwrap_err()
                .contains("not `mov eax|ecx|edx")
        );
        // what rustc made of the Rust hook: push ebx; sub esp, 8; call ...
        let memory = image(
            0x1000,
            vec![0x53, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x5b, 0x81],
        );
        assert!(
            slot_address(Arch::I686, 0x1000, &memory)
                .unwrap_err()
                .contains("call rel32")
        );
    }

    fn words(words: [u32; 4]) -> Vec<u8> {
        words.iter().flat_map(|word| word.to_le_bytes()).collect()
    }

    // At 0x1000, for the slot at 0x23458 (page 0x23000, 0x22 pages on):
    const ADRP_X16: u32 = 0xd000_0110; // adrp x16, 0x23000 (immlo 2, immhi 8)
    const ADD_X16: u32 = 0x9111_6210; // add x16, x16, #0x458
    const LDAR_X16: u32 = 0xc8df_fe10; // ldar x16, [x16]
    const BR_X16: u32 = 0xd61f_0200; // br x16

    #[test]
    fn aarch64_page_offset_acquire_load_and_branch() {
        let memory = image(0x1000, words([ADRP_X16, ADD_X16, LDAR_X16, BR_X16]));
        assert_eq!(slot_address(Arch::Aarch64, 0x1000, &memory), Ok(0x23458));
        // a page below the code: adrp x16, -0x1000 is immhi all ones, immlo 3
        let adrp_back = 0x9000_0010 | 3 << 29 | 0x7ffff << 5;
        let memory = image(0x5000, words([adrp_back, ADD_X16, LDAR_X16, BR_X16]));
        assert_eq!(slot_address(Arch::Aarch64, 0x5000, &memory), Ok(0x4458));
        // x17 throughout
        let memory = image(
            0x1000,
            words([ADRP_X16 + 1, ADD_X16 + 0x21, LDAR_X16 + 0x21, BR_X16 + 0x20]),
        );
        assert_eq!(slot_address(Arch::Aarch64, 0x1000, &memory), Ok(0x23458));
    }

    #[test]
    fn aarch64_wrong_shapes_are_rejected() {
        let cases = [
            // ldr x16, [x16]: a plain load, not an acquire one
            ([ADRP_X16, ADD_X16, 0xf940_0210, BR_X16], "acquire"),
            // ldar x1, [x16]; br x1: what rustc made, a register mix
            ([ADRP_X16, ADD_X16, 0xc8df_fe01, 0xd61f_0020], "ldar x16"),
            // adrp x8 ...: x8 carries a returned struct's address
            (
                [0xd000_0108, 0x9111_6108, 0xc8df_fd08, 0xd61f_0100],
                "not x16 or x17",
            ),
            // add with the 12-bit shift: not the low 12 bits
            ([ADRP_X16, ADD_X16 | 1 << 22, LDAR_X16, BR_X16], "lo12"),
            // blr x16: a call, not a tail jump
            ([ADRP_X16, ADD_X16, LDAR_X16, 0xd63f_0200], "br x16"),
        ];
        for (code, expected) in cases {
            let memory = image(0x1000, words(code));
            let error = slot_address(Arch::Aarch64, 0x1000, &memory).unwrap_err();
            assert!(error.contains(expected), "{code:08x?}: {error}");
        }
    }

    #[test]
    fn plain_hooks_take_the_mangled_names_of_their_size_t() {
        let lp64 = plain_hooks(64);
        let ilp32 = plain_hooks(32);
        assert_eq!(lp64.len(), 46);
        assert_eq!(ilp32.len(), 46);
        assert!(lp64.iter().any(|hook| hook.symbol == "_ZdlPvm"));
        assert!(
            ilp32
                .iter()
                .any(|hook| hook.symbol == "_ZdlPvj" && hook.slot == "_ZdlPvm")
        );
        assert!(!ilp32.iter().any(|hook| hook.symbol.contains("Pvm")));
        assert!(!ilp32.iter().any(|hook| hook.symbol.starts_with("_Znwm")));
        // Unsized deletes free; sized ones have their own slots.
        for hook in lp64.iter().filter(|hook| hook.symbol.starts_with("_Zd")) {
            let sized = hook.symbol.starts_with("_ZdlPvm") || hook.symbol.starts_with("_ZdaPvm");
            assert_eq!(hook.slot == "free", !sized, "{hook:?}");
        }
    }
}
