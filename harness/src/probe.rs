//! The probes' records (see the `fixtures` crate for their format) and what
//! they say about who owns each block.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::allocators::Owner;

#[derive(Debug, Deserialize)]
#[serde(tag = "record", rename_all = "lowercase")]
pub enum Record {
    Start { probe: String },
    Alloc(Allocation),
    End { count: u64 },
}

#[derive(Clone, Debug, Deserialize)]
pub struct Allocation {
    pub kind: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    pub alloc_claims: Vec<String>,
    #[serde(default)]
    pub realloc_claims: Vec<String>,
    pub free_claims: Vec<String>,
    pub context: String,
}

/// What the allocators said about one allocation kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "seen", content = "detail", rename_all = "lowercase")]
pub enum Seen {
    /// Exactly one family (or none: `Unclaimed`) answered for every step.
    Owner(Owner),
    /// Several families claimed the block at some step: two heaps mixed.
    Mixed(Vec<String>),
    /// The probe reported a failure for this kind.
    Failed(String),
    /// No record: the probe died before or during this kind.
    Missing,
}

impl Allocation {
    /// All families that claimed the block at allocation, reallocation or
    /// free. One family is the owner; none means an allocator the oracle
    /// cannot query; more means blocks crossed heaps.
    pub fn seen(&self) -> Seen {
        if !self.ok {
            return Seen::Failed(self.error.clone().unwrap_or_else(|| "failed".into()));
        }
        let claims: BTreeSet<&String> = self
            .alloc_claims
            .iter()
            .chain(&self.realloc_claims)
            .chain(&self.free_claims)
            .collect();
        match claims.len() {
            0 => Seen::Owner(Owner::Unclaimed),
            1 => {
                let label = claims
                    .into_iter()
                    .next()
                    .map(String::as_str)
                    .unwrap_or_default();
                Owner::from_label(label)
                    .map(Seen::Owner)
                    .unwrap_or_else(|| Seen::Failed(format!("unknown family {label:?}")))
            }
            _ => Seen::Mixed(claims.into_iter().cloned().collect()),
        }
    }
}

/// A probe's whole output.
#[derive(Debug, Default)]
pub struct Output {
    pub started: bool,
    pub allocations: Vec<Allocation>,
    /// `Some(count)` when the probe finished.
    pub end: Option<u64>,
    /// Lines that are not records.
    pub garbage: Vec<String>,
}

impl Output {
    pub fn parse(stdout: &str) -> Output {
        let mut output = Output::default();
        for line in stdout.lines() {
            match serde_json::from_str::<Record>(line) {
                Ok(Record::Start { .. }) => output.started = true,
                Ok(Record::Alloc(allocation)) => output.allocations.push(allocation),
                Ok(Record::End { count }) => output.end = Some(count),
                Err(_) => output.garbage.push(line.to_owned()),
            }
        }
        output
    }

    /// What was seen for `kind`, `Missing` if it has no record.
    pub fn seen(&self, kind: &str) -> Seen {
        self.allocations
            .iter()
            .find(|allocation| allocation.kind == kind)
            .map_or(Seen::Missing, Allocation::seen)
    }
}
