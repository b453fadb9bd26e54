//! Progress reporting for long parses and analyses.

use serde::Serialize;

/// A step of reading and analysing a snapshot, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Reading the document: `done` and `total` are bytes (`total` is 0 when unknown, e.g. gzip).
    Parse,
    /// Edge indexes, DOM state and node flags: `done`/`total` are steps.
    Index,
    /// Moving the size of owned arrays and internals to their owners.
    ShallowSizes,
    /// Class names of every node, including inferred `{a, b}` interfaces of plain objects, and
    /// the nodes grouped per class. Worked out while the dominator tree is computed: reported
    /// after it, for the time still needed (usually none).
    ClassNames,
    /// The dominator tree: `done`/`total` are nodes.
    Dominators,
    /// Retained sizes.
    RetainedSizes,
    /// Adding up the retained sizes per class.
    Classes,
}

impl Phase {
    /// A short human label, e.g. for a progress bar.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Parse => "parsing",
            Phase::Index => "indexing",
            Phase::ShallowSizes => "shallow sizes",
            Phase::ClassNames => "class names",
            Phase::Dominators => "dominators",
            Phase::RetainedSizes => "retained sizes",
            Phase::Classes => "classes",
        }
    }
}

/// Receives progress: `report(phase, done, total)`. Called from the thread doing the work, at most a
/// few hundred times per phase; keep it cheap. Any `Fn(Phase, u64, u64)` is a `Progress`.
pub trait Progress {
    /// `done` out of `total` units of `phase` are complete (`total` 0: unknown).
    fn report(&self, phase: Phase, done: u64, total: u64);
}

impl<F: Fn(Phase, u64, u64)> Progress for F {
    fn report(&self, phase: Phase, done: u64, total: u64) {
        self(phase, done, total)
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _phase: Phase, _done: u64, _total: u64) {}
}
