//! The once-per-process decision, and the table every exported function
//! forwards through.
//!
//! # The state machine
//!
//! ```text
//! UNDECIDED ──first call or constructor──▶ DECIDING(pid) ──publish──▶ DECIDED
//!                                              ▲   │
//!                 a forked child finds the     └───┘
//!                 decider gone and takes over
//! ```
//!
//! Before `DECIDED`, every slot of [`SLOTS`] holds a stub. The first stub (or
//! the constructor, whichever runs first) to move the state from `UNDECIDED`
//! becomes the decider. It walks the loaded objects, reads the program's
//! names and the exclusion list, and builds the route's [`Table`]. Any
//! allocation made meanwhile, by the decider re-entering or by another
//! thread, is served from the [`bootstrap`] region: nobody ever waits for the
//! decider, which may itself be waiting for a loader lock that another
//! allocating thread holds.
//!
//! Publishing writes the table to [`PENDING`], closes the bootstrap region,
//! writes it to [`SLOTS`], then sets `DECIDED`. A stub refused by the closed
//! region uses `PENDING`, so no thread spins on the decider at any point.
//! After that, each exported function is one load and one indirect jump; the
//! slots never change again.
//!
//! The state holds no lock: a fork at any moment leaves the child either
//! `DECIDED` with the parent's table, or `DECIDING` under the parent's pid,
//! which the child detects and redoes.

use core::cell::UnsafeCell;
use core::ffi::{CStr, c_void};
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use memproxy_config::Identity;

use crate::allocators::{self, Core, Family, Table, Takeovers};
use crate::bootstrap;
use crate::decision::{ConfigSource, Decision, Reason};
use crate::exclusion::{self, Verdict};
use crate::loader::{self, Object, Walk};
use crate::{diag, exe, sys};

macro_rules! slots {
    ($($name:ident: $signature:ty = $stub:path => $($field:ident).+;)*) => {
        /// One function pointer per route function.
        pub struct Slots {
            $($name: AtomicPtr<()>,)*
        }

        impl Slots {
            const fn stubs() -> Slots {
                Slots { $($name: AtomicPtr::new($stub as *mut ()),)* }
            }

            $(
                #[inline(always)]
                pub fn $name(&self) -> $signature {
                    let address = self.$name.load(Ordering::Acquire);
                    // SAFETY: a slot only ever holds a stub or a `Table`
                    // field of this very signature.
                    unsafe { core::mem::transmute::<*mut (), $signature>(address) }
                }
            )*

            fn publish(&self, table: &Table) {
                $(self.$name.store(table.$($field).+ as *mut (), Ordering::Release);)*
            }
        }
    };
}

slots! {
    malloc: allocators::MallocFn = stubs::malloc => core.malloc;
    free: allocators::FreeFn = stubs::free => core.free;
    calloc: allocators::CallocFn = stubs::calloc => core.calloc;
    realloc: allocators::ReallocFn = stubs::realloc => core.realloc;
    memalign: allocators::AlignFn = stubs::memalign => core.memalign;
    posix_memalign: allocators::PosixMemalignFn = stubs::posix_memalign => core.posix_memalign;
    aligned_alloc: allocators::AlignFn = stubs::aligned_alloc => core.aligned_alloc;
    valloc: allocators::MallocFn = stubs::valloc => core.valloc;
    pvalloc: allocators::MallocFn = stubs::pvalloc => core.pvalloc;
    usable_size: allocators::UsableSizeFn = stubs::usable_size => core.usable_size;
    trim: allocators::TrimFn = stubs::trim => core.trim;
    libc_malloc: allocators::MallocFn = stubs::libc_malloc => takeovers.libc_malloc;
    libc_free: allocators::FreeFn = stubs::libc_free => takeovers.libc_free;
    libc_calloc: allocators::CallocFn = stubs::libc_calloc => takeovers.libc_calloc;
    libc_realloc: allocators::ReallocFn = stubs::libc_realloc => takeovers.libc_realloc;
    libc_memalign: allocators::AlignFn = stubs::libc_memalign => takeovers.libc_memalign;
    libc_valloc: allocators::MallocFn = stubs::libc_valloc => takeovers.libc_valloc;
    libc_pvalloc: allocators::MallocFn = stubs::libc_pvalloc => takeovers.libc_pvalloc;
    strdup: allocators::StrdupFn = stubs::strdup => takeovers.strdup;
    strndup: allocators::StrndupFn = stubs::strndup => takeovers.strndup;
    mallinfo: allocators::MallinfoFn = stubs::mallinfo => takeovers.mallinfo;
    mallinfo2: allocators::Mallinfo2Fn = stubs::mallinfo2 => takeovers.mallinfo2;
    mallopt: allocators::MalloptFn = stubs::mallopt => takeovers.mallopt;
    malloc_stats: allocators::MallocStatsFn = stubs::malloc_stats => takeovers.malloc_stats;
    malloc_info: allocators::MallocInfoFn = stubs::malloc_info => takeovers.malloc_info;
}

/// What every exported function calls.
pub static SLOTS: Slots = Slots::stubs();
/// The decided table, with bootstrap-aware `free`/`realloc`, from the moment
/// the bootstrap region closes; see the module docs.
static PENDING: Slots = Slots::stubs();

const UNDECIDED: u64 = 0;
const DECIDED: u64 = 1;

const fn deciding(pid: i32) -> u64 {
    ((pid as u32 as u64) << 2) | 2
}

static STATE: AtomicU64 = AtomicU64::new(UNDECIDED);

/// How a stub must serve the call it received.
pub enum Entry {
    /// `SLOTS` holds the decided route.
    Ready,
    /// A decision is in progress in this process: use the bootstrap region,
    /// or `PENDING` once it is closed.
    Deciding,
}

/// Makes the decision if nobody has, and says how to serve a call.
pub fn enter() -> Entry {
    loop {
        let state = STATE.load(Ordering::Acquire);
        if state == DECIDED {
            return Entry::Ready;
        }
        let ours = deciding(sys::process_id());
        if state == ours {
            return Entry::Deciding;
        }
        // UNDECIDED, or DECIDING in a parent whose decider did not survive the
        // fork that made this process.
        if STATE
            .compare_exchange(state, ours, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let walk = if state == UNDECIDED {
                Walk::Locked
            } else {
                Walk::AfterFork
            };
            decide(walk);
            return Entry::Ready;
        }
    }
}

/// Memory only the decider uses, kept static because the first `malloc` may
/// run on a small stack.
struct Scratch {
    exe: [u8; 4096],
    config_path: [u8; 4096],
    env_value: [u8; 4096],
    scan: [u8; 16384],
    line: [u8; 8192],
}

struct DeciderOnly(UnsafeCell<Scratch>);

// SAFETY: only the thread that moved STATE to DECIDING(pid) touches it; see
// `decide`.
unsafe impl Sync for DeciderOnly {}

static SCRATCH: DeciderOnly = DeciderOnly(UnsafeCell::new(Scratch {
    exe: [0; 4096],
    config_path: [0; 4096],
    env_value: [0; 4096],
    scan: [0; 16384],
    line: [0; 8192],
}));

fn decide(walk: Walk) {
    let saved_errno = sys::errno();
    // SAFETY: this thread won the UNDECIDED/stale → DECIDING(pid) exchange in
    // `enter`, and no other thread of this process can until DECIDED.
    let scratch = unsafe { &mut *SCRATCH.0.get() };
    let secure = sys::aux_value(libc::AT_SECURE) != 0;
    let debug = !secure
        && sys::start_env(b"MEMPROXY_DEBUG", &mut scratch.env_value)
            .value()
            .is_some_and(debug_enabled);
    let (config_path, config_source) =
        config_path(secure, &mut scratch.env_value, &mut scratch.config_path);
    let identity = exe::identify(&mut scratch.exe);
    let mut decision = choose(identity, config_path, debug, &mut scratch.scan, walk);
    decision.config_source = config_source;

    if !decision.glibc {
        warm_up(&decision.table);
    }
    PENDING.publish(&with_bootstrap_checks(decision.table));
    decision.bootstrap_used = bootstrap::close();
    let table = if decision.bootstrap_used {
        with_bootstrap_checks(decision.table)
    } else {
        decision.table
    };
    SLOTS.publish(&table);
    STATE.store(DECIDED, Ordering::Release);

    if debug {
        diag::report(&decision, &mut scratch.line);
    }
    sys::set_errno(saved_errno);
}

/// Makes the route's first call here, on the deciding thread alone. An
/// allocator that initialises itself lazily, and not thread-safely, on its
/// first call (mimalloc, before its constructor has run) would otherwise see
/// every thread that allocated during the decision rush into that first
/// call the moment the route is published. glibc's initialisation is
/// thread-safe, and its heap layout is better left as the program makes it
/// (a block freed this early makes later aligned allocations slower), so the
/// glibc route skips this.
fn warm_up(table: &Table) {
    // SAFETY: a malloc and a free of the decided route, of its own block.
    unsafe {
        let block = (table.core.malloc)(1);
        (table.core.free)(block);
    }
}

fn debug_enabled(value: &[u8]) -> bool {
    !value.is_empty() && value != b"0"
}

/// `MEMPROXY_CONF` unless the process is AT_SECURE (setuid, setgid, file
/// capabilities), where the caller's environment must not choose what a
/// privileged process reads; otherwise the path fixed at build time.
fn config_path<'s>(
    secure: bool,
    env_value: &mut [u8],
    out: &'s mut [u8],
) -> (&'s CStr, ConfigSource) {
    const DEFAULT: &CStr = match CStr::from_bytes_with_nul(
        concat!(env!("MEMPROXY_DEFAULT_CONFIG"), "\0").as_bytes(),
    ) {
        Ok(path) => path,
        Err(_) => panic!("the default config path must not contain NUL"),
    };
    if secure {
        return (DEFAULT, ConfigSource::BuiltIn);
    }
    let chosen = match sys::start_env(b"MEMPROXY_CONF", env_value) {
        sys::EnvVar::Set([]) => return (DEFAULT, ConfigSource::BuiltIn),
        sys::EnvVar::Set(path) if path.first() != Some(&b'/') => {
            return (DEFAULT, ConfigSource::IgnoredRelative);
        }
        sys::EnvVar::Set(path) => path,
        sys::EnvVar::Unset => return (DEFAULT, ConfigSource::BuiltIn),
        sys::EnvVar::TooLong => return (DEFAULT, ConfigSource::IgnoredTooLong),
    };
    // `out` keeps one byte for the terminating NUL.
    let Some((path, rest)) = out.split_at_mut_checked(chosen.len()) else {
        return (DEFAULT, ConfigSource::IgnoredTooLong);
    };
    let Some(nul) = rest.first_mut() else {
        return (DEFAULT, ConfigSource::IgnoredTooLong);
    };
    path.copy_from_slice(chosen);
    *nul = 0;
    let with_nul = out.get(..chosen.len() + 1).unwrap_or(&[]);
    match CStr::from_bytes_with_nul(with_nul) {
        Ok(path) => (path, ConfigSource::Environment),
        Err(_) => (DEFAULT, ConfigSource::IgnoredTooLong),
    }
}

/// What the walk over loaded objects found.
#[derive(Default)]
struct Survey {
    /// The first object defining `malloc`: the one the global scope binds
    /// `malloc` to.
    first: Option<Candidate>,
    /// glibc.
    libc: Option<Candidate>,
    /// The first object other than memproxy and glibc defining `malloc`.
    custom: Option<Candidate>,
}

#[derive(Clone, Copy)]
struct Candidate {
    object: Object,
    role: Role,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Ours,
    OtherCopy,
    Libc,
    Loader,
    Other,
}

/// The role of an object that defines `malloc`: only those matter, and
/// asking no more of the others keeps the walk short (it runs in every
/// process).
fn role_of_malloc_definer(object: &Object) -> Role {
    if object.is_this_library() {
        Role::Ours
    } else if loader::is_memproxy(object) {
        Role::OtherCopy
    } else if object.soname == b"libc.so.6" {
        Role::Libc
    } else if object.soname.starts_with(b"ld-linux") {
        Role::Loader
    } else {
        Role::Other
    }
}

/// One walk over the loaded objects, in load order.
fn survey(walk: Walk) -> Survey {
    let mut found = Survey::default();
    loader::walk(walk, |object| {
        if !object.defines(b"malloc") {
            return ControlFlow::Continue(());
        }
        let candidate = Candidate {
            object: *object,
            role: role_of_malloc_definer(object),
        };
        found.first.get_or_insert(candidate);
        match candidate.role {
            Role::Libc if found.libc.is_none() => found.libc = Some(candidate),
            Role::Other if found.custom.is_none() => found.custom = Some(candidate),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    found
}

/// The first object, other than glibc and memproxy, that exports one of the
/// prefixed allocator APIs. Only looked for when nothing defines `malloc`,
/// which is rare, so the common walk need not ask every object about every
/// prefix.
fn prefixed_allocator(walk: Walk) -> Option<(Candidate, &'static Family)> {
    let mut found = None;
    loader::walk(walk, |object| {
        let family = allocators::PREFIXED
            .iter()
            .find(|family| object.defines(family.malloc));
        if let Some(family) = family
            && !loader::is_memproxy(object)
            && object.soname != b"libc.so.6"
        {
            let candidate = Candidate {
                object: *object,
                role: Role::Other,
            };
            found = Some((candidate, family));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn choose<'a>(
    identity: Identity<'a>,
    config_path: &'a CStr,
    debug: bool,
    scan: &mut [u8],
    walk: Walk,
) -> Decision<'a> {
    let survey = survey(walk);
    let duplicate_of = match survey.first {
        Some(Candidate {
            role: Role::OtherCopy,
            object,
        }) => Some(object.path),
        _ => None,
    };
    let first_elsewhere = survey
        .first
        .filter(|first| !matches!(first.role, Role::Ours | Role::OtherCopy));
    let custom = match survey.custom {
        Some(candidate) => Some((candidate, &allocators::STANDARD)),
        None if first_elsewhere.is_none() => prefixed_allocator(walk)
            .filter(|(candidate, _)| preload_lists_name(candidate.object.path, scan)),
        None => None,
    };

    let needs_config = first_elsewhere.is_none() && custom.is_some();
    let verdict = if needs_config || debug {
        exclusion::read(config_path, &identity, scan)
    } else {
        Verdict::NotRead
    };

    let (target, family, reason) = match (first_elsewhere, custom) {
        (Some(first), _) => (
            Some(first),
            &allocators::STANDARD,
            Reason::NotFirst {
                first: first.object.path,
            },
        ),
        (None, Some(_)) if verdict.excludes() => {
            (survey.libc, &allocators::STANDARD, Reason::Excluded)
        }
        (None, Some((candidate, family))) => (Some(candidate), family, Reason::NotExcluded),
        (None, None) => (
            survey.libc,
            &allocators::STANDARD,
            Reason::NoCustomAllocator,
        ),
    };
    let resolved = target.and_then(|target| {
        let (core, filled) = allocators::resolve(family, &target.object)?;
        Some((target, core, filled))
    });
    let (target, family, reason, core, filled) = match resolved {
        Some((target, core, filled)) => (target, family, reason, core, filled),
        None => {
            let unusable = Reason::AllocatorUnusable {
                path: target.map_or(&[][..], |target| target.object.path),
            };
            let Some((libc, (core, filled))) = survey.libc.and_then(|libc| {
                allocators::resolve(&allocators::STANDARD, &libc.object).map(|table| (libc, table))
            }) else {
                // glibc always defines these; without it nothing can allocate.
                sys::write_stderr(b"memproxy: glibc's malloc is not loaded; aborting\n");
                // SAFETY: abort is always safe to call.
                unsafe { libc::abort() }
            };
            (libc, &allocators::STANDARD, unusable, core, filled)
        }
    };
    let takeovers = takeovers(&target.object, survey.libc.map(|libc| libc.object), &core);
    Decision {
        identity,
        config_path: config_path.to_bytes(),
        config_source: ConfigSource::BuiltIn,
        verdict,
        reason,
        glibc: target.role == Role::Libc,
        allocator_path: target.object.path,
        family: family.label,
        filled,
        duplicate_of,
        bootstrap_used: false,
        table: Table { core, takeovers },
    }
}

/// The glibc functions allocators take over, from the route's object where it
/// defines them and from glibc otherwise (see [`Takeovers`]).
fn takeovers(route: &Object, libc: Option<Object>, core: &Core) -> Takeovers {
    let found = allocators::TAKEOVER_NAMES.map(|name| {
        route
            .lookup(name)
            .or_else(|| libc.and_then(|libc| libc.lookup(name)))
    });
    Takeovers::from_addresses(found, core)
}

/// Whether `LD_PRELOAD` or `/etc/ld.so.preload` lists `path`, by full path or
/// by name, parsed as ld.so parses them. A prefixed-only allocator that a
/// program merely links against must not take over the whole process.
fn preload_lists_name(path: &[u8], scratch: &mut [u8]) -> bool {
    let names_it = |entry: &[u8]| {
        if entry.contains(&b'/') {
            entry == path
        } else {
            entry == memproxy_config::basename(path)
        }
    };
    // ld.so splits LD_PRELOAD at spaces and colons.
    if let Some(list) = sys::start_env(b"LD_PRELOAD", scratch).value()
        && list.split(|&b| matches!(b, b' ' | b':')).any(names_it)
    {
        return true;
    }
    let Ok(mut file) = sys::Fd::open_read_only(c"/etc/ld.so.preload") else {
        return false;
    };
    // The file: blanks, newlines and colons separate entries, and `#`
    // starts a comment that runs to the end of the line. Only its first
    // `scratch.len()` bytes are considered.
    let mut length = 0;
    while let Some(free) = scratch.get_mut(length..).filter(|free| !free.is_empty()) {
        match memproxy_config::ReadBytes::read(&mut file, free) {
            Ok(0) | Err(_) => break,
            Ok(count) => length += count,
        }
    }
    let contents = scratch.get(..length).unwrap_or(&[]);
    contents.split(|&b| b == b'\n').any(|line| {
        let uncommented = line.split(|&b| b == b'#').next().unwrap_or(&[]);
        uncommented
            .split(|&b| matches!(b, b' ' | b'\t' | b':'))
            .any(names_it)
    })
}

/// Replaces the functions that may receive a bootstrap block.
fn with_bootstrap_checks(table: Table) -> Table {
    LIBC_FREE_BEHIND_CHECK.store(table.takeovers.libc_free as *mut (), Ordering::Release);
    LIBC_REALLOC_BEHIND_CHECK.store(table.takeovers.libc_realloc as *mut (), Ordering::Release);
    let core = Core {
        free: free_checking,
        realloc: realloc_checking,
        usable_size: usable_size_checking,
        ..table.core
    };
    let takeovers = Takeovers {
        libc_free: libc_free_checking,
        libc_realloc: libc_realloc_checking,
        ..table.takeovers
    };
    Table { core, takeovers }
}

/// The `__libc_free` and `__libc_realloc` that the checking versions below
/// forward to.
static LIBC_FREE_BEHIND_CHECK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static LIBC_REALLOC_BEHIND_CHECK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

unsafe extern "C" fn libc_free_checking(block: *mut c_void) {
    if !bootstrap::contains(block as *const u8) {
        // SAFETY: set by `with_bootstrap_checks` before this is installed;
        // it has free's signature.
        unsafe {
            let free: allocators::FreeFn =
                core::mem::transmute(LIBC_FREE_BEHIND_CHECK.load(Ordering::Acquire));
            free(block)
        }
    }
}

unsafe extern "C" fn libc_realloc_checking(block: *mut c_void, size: usize) -> *mut c_void {
    if bootstrap::contains(block as *const u8) {
        // SAFETY: the same move as for `realloc`.
        return unsafe { realloc_checking(block, size) };
    }
    // SAFETY: as above, with realloc's signature.
    unsafe {
        let realloc: allocators::ReallocFn =
            core::mem::transmute(LIBC_REALLOC_BEHIND_CHECK.load(Ordering::Acquire));
        realloc(block, size)
    }
}

unsafe extern "C" fn free_checking(block: *mut c_void) {
    if !bootstrap::contains(block as *const u8) {
        // SAFETY: a block of the route's allocator.
        unsafe { allocators::primitive_free()(block) }
    }
}

unsafe extern "C" fn realloc_checking(block: *mut c_void, size: usize) -> *mut c_void {
    if !bootstrap::contains(block as *const u8) {
        // SAFETY: NULL or a block of the route's allocator.
        return unsafe { allocators::primitive_realloc()(block, size) };
    }
    // SAFETY: a bootstrap block; the new block has `size` writable bytes.
    unsafe {
        let moved = allocators::primitive_malloc()(size);
        if !moved.is_null() {
            let keep = bootstrap::size_of(block as *const u8).min(size);
            core::ptr::copy_nonoverlapping(block as *const u8, moved as *mut u8, keep);
        }
        moved
    }
}

unsafe extern "C" fn usable_size_checking(block: *mut c_void) -> usize {
    if bootstrap::contains(block as *const u8) {
        // SAFETY: a bootstrap block.
        return unsafe { bootstrap::size_of(block as *const u8) };
    }
    // SAFETY: NULL or a block of the route's allocator.
    allocators::primitive_usable_size().map_or(0, |usable_size| unsafe { usable_size(block) })
}

/// The functions in the slots until the decision is published.
mod stubs;
