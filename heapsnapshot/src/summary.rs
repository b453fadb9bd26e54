//! The Summary view: one row per class.

use serde::Serialize;

use crate::graph::Location;
use crate::snapshot::HeapSnapshot;

/// One class of the Summary view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassSummary {
    /// Class name: constructor name for objects, `{a, b}` for plain objects of a common shape,
    /// `(string)`, `(array)`, `(system)`, `(compiled code)`, `Function`, `(concatenated string)`...
    pub name: String,
    /// The constructor's location, when the snapshot lists it: DevTools keeps classes of one name
    /// but different constructors apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Objects of the class (with a non-zero self size).
    pub count: u64,
    /// Sum of their self sizes.
    pub self_size: u64,
    /// Memory freed if every object of the class went away: the sum of the retained sizes of the
    /// class's objects not dominated by another object of the class.
    pub retained_size: u64,
}

/// DevTools' Summary view of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// DevTools' `statistics.total`: the root's retained size plus `extra_native_bytes`.
    pub total_size: u64,
    /// Nodes in the snapshot (all of them, including zero-size and synthetic ones).
    pub node_count: u64,
    /// Classes, by retained size (largest first), then name, then location.
    pub classes: Vec<ClassSummary>,
}

impl HeapSnapshot {
    /// The Summary view (the classes and their retained sizes were worked out with the
    /// analysis).
    pub fn summary(&self) -> Summary {
        let mut classes: Vec<ClassSummary> = self
            .aggregates
            .list
            .iter()
            .filter(|a| !a.shadowed)
            .cloned()
            .map(|a| ClassSummary {
                name: a.name,
                location: a.location,
                count: a.count,
                self_size: a.self_size,
                retained_size: a.retained_size,
            })
            .collect();
        classes.sort_by(|a, b| {
            b.retained_size
                .cmp(&a.retained_size)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.location.cmp(&b.location))
        });
        Summary {
            total_size: self.total_size,
            node_count: self.node_count(),
            classes,
        }
    }
}
