//! The preload orders, as data.
//!
//! Each order is a template over three tokens: `MEMPROXY` (libmemproxy.so),
//! `LIBC` (glibc's real object, never the `libc.so` linker script) and
//! `ALLOC` (the allocator under test; dropped, with its separator, when the
//! allocator is glibc itself). Paths are absolute unless the order says
//! bare names, which ld.so then finds through `LD_LIBRARY_PATH`.

/// Where the preload list comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `LD_PRELOAD` only.
    Environment,
    /// `/etc/ld.so.preload` only, inside a private mount namespace.
    EtcPreload,
    /// `LD_PRELOAD` holds `env`, `/etc/ld.so.preload` holds `etc`; ld.so loads
    /// the environment's entries first.
    Both,
}

/// Where memproxy stands relative to the allocator, per the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// memproxy comes before any custom allocator: the exclusion list applies.
    First,
    /// The allocator comes first and serves the process: memproxy cannot
    /// apply the exclusion list, and `MEMPROXY_DEBUG` says so.
    AfterAllocator,
}

#[derive(Clone, Copy, Debug)]
pub struct Order {
    pub id: &'static str,
    pub about: &'static str,
    pub source: Source,
    /// The `LD_PRELOAD` template (for `Environment` and `Both`).
    pub env: &'static str,
    /// The `/etc/ld.so.preload` template (for `EtcPreload` and `Both`).
    pub etc: &'static str,
    /// Entries are bare file names found through `LD_LIBRARY_PATH`.
    pub bare_names: bool,
    pub standing: Standing,
}

impl Order {
    pub fn needs_mount_namespace(&self) -> bool {
        self.source != Source::Environment
    }
}

pub const ORDERS: [Order; 9] = [
    Order {
        id: "seed",
        about: "the seed README's order: memproxy, then libc, then the allocator",
        source: Source::Environment,
        env: "MEMPROXY:LIBC:ALLOC",
        etc: "",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "short",
        about: "memproxy then the allocator",
        source: Source::Environment,
        env: "MEMPROXY:ALLOC",
        etc: "",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "alone",
        about: "memproxy with no custom allocator: glibc serves everything",
        source: Source::Environment,
        env: "MEMPROXY",
        etc: "",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "bare-names",
        about: "file names only, found through LD_LIBRARY_PATH",
        source: Source::Environment,
        env: "MEMPROXY:ALLOC",
        etc: "",
        bare_names: true,
        standing: Standing::First,
    },
    Order {
        id: "spaces",
        about: "entries separated by spaces instead of colons",
        source: Source::Environment,
        env: "MEMPROXY LIBC ALLOC",
        etc: "",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "allocator-first",
        about: "the allocator before memproxy: memproxy cannot apply the list",
        source: Source::Environment,
        env: "ALLOC:MEMPROXY",
        etc: "",
        bare_names: false,
        standing: Standing::AfterAllocator,
    },
    Order {
        id: "etc-preload",
        about: "/etc/ld.so.preload, one entry per line",
        source: Source::EtcPreload,
        env: "",
        etc: "MEMPROXY\nALLOC\n",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "etc-seed",
        about: "/etc/ld.so.preload with the seed's single colon-separated line",
        source: Source::EtcPreload,
        env: "",
        etc: "MEMPROXY:LIBC:ALLOC\n",
        bare_names: false,
        standing: Standing::First,
    },
    Order {
        id: "env-then-etc",
        about: "memproxy in LD_PRELOAD, the allocator in /etc/ld.so.preload",
        source: Source::Both,
        env: "MEMPROXY",
        etc: "ALLOC\n",
        bare_names: false,
        standing: Standing::First,
    },
];

pub fn find(id: &str) -> Option<&'static Order> {
    ORDERS.iter().find(|order| order.id == id)
}

/// The paths (or names) the tokens stand for.
pub struct Tokens<'a> {
    pub memproxy: &'a str,
    pub libc: &'a str,
    /// `None` when the allocator under test is glibc.
    pub alloc: Option<&'a str>,
}

/// Fills a template. Entries naming no allocator are dropped along with
/// their separator, so `MEMPROXY:ALLOC` becomes `MEMPROXY` for glibc.
pub fn expand(template: &str, tokens: &Tokens<'_>) -> String {
    let mut out = String::new();
    for piece in template.split_inclusive([':', ' ', '\n']) {
        let (entry, separator) = match piece.strip_suffix([':', ' ', '\n']) {
            Some(entry) => (entry, &piece[entry.len()..]),
            None => (piece, ""),
        };
        let value = match entry {
            "MEMPROXY" => Some(tokens.memproxy),
            "LIBC" => Some(tokens.libc),
            "ALLOC" => tokens.alloc,
            other => Some(other),
        };
        if let Some(value) = value {
            out.push_str(value);
            out.push_str(separator);
        }
    }
    out.trim_end_matches([':', ' ']).to_owned()
}
