//! DevTools' Comparison view: objects of two snapshots matched by V8 object id, per class.

use std::collections::HashMap;

use serde::Serialize;

use crate::aggregates::{self, Aggregates, NONE};
use crate::classes;
use crate::graph::Location;
use crate::snapshot::HeapSnapshot;

/// One class of the Comparison view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassDiff {
    /// Class name, as in the Summary view.
    pub name: String,
    /// The constructor's location, when listed (classes are keyed by location and name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Objects in `after` whose id is not in `before`'s objects of the class ("# New").
    pub added: u64,
    /// Objects in `before` whose id is not in `after`'s objects of the class ("# Deleted").
    pub removed: u64,
    /// Self sizes of the added objects ("Alloc. Size").
    pub added_size: u64,
    /// Self sizes of the removed objects ("Freed Size").
    pub removed_size: u64,
    /// `added - removed` ("# Delta").
    pub count_delta: i64,
    /// `added_size - removed_size` ("Size Delta").
    pub size_delta: i64,
}

/// The classes whose objects changed between two snapshots of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// `statistics.total` of the first snapshot.
    pub before_total_size: u64,
    /// `statistics.total` of the second snapshot.
    pub after_total_size: u64,
    /// Classes with at least one added or removed object, by `|size_delta|` (largest first), then
    /// `|count_delta|` (largest first), then name and location.
    pub classes: Vec<ClassDiff>,
}

/// Ids and self sizes of each aggregate's objects, by id.
fn members(snapshot: &HeapSnapshot, aggs: &Aggregates) -> Vec<Vec<(u32, u32)>> {
    let mut lists: Vec<Vec<(u32, u32)>> = aggs
        .list
        .iter()
        .map(|a| Vec::with_capacity(a.count as usize))
        .collect();
    for (n, id) in snapshot.graph.nodes.ids.iter().enumerate() {
        let agg = aggs.of_node.get(n);
        if agg != NONE {
            lists[agg as usize].push((id, snapshot.graph.nodes.self_sizes[n]));
        }
    }
    for list in &mut lists {
        list.sort_unstable_by_key(|&(id, _)| id);
    }
    lists
}

#[derive(Default)]
struct Counts {
    added: u64,
    removed: u64,
    added_size: u64,
    removed_size: u64,
}

fn compare(base: &[(u32, u32)], current: &[(u32, u32)]) -> Counts {
    let mut c = Counts::default();
    let (mut i, mut j) = (0, 0);
    while i < base.len() && j < current.len() {
        let (a, a_size) = base[i];
        let (b, b_size) = current[j];
        if a < b {
            c.removed += 1;
            c.removed_size += u64::from(a_size);
            i += 1;
        } else if a > b {
            c.added += 1;
            c.added_size += u64::from(b_size);
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
    for &(_, size) in &base[i..] {
        c.removed += 1;
        c.removed_size += u64::from(size);
    }
    for &(_, size) in &current[j..] {
        c.added += 1;
        c.added_size += u64::from(size);
    }
    c
}

/// Compares two snapshots of one process as DevTools' Comparison view does: `before`'s plain
/// objects are classified with `after`'s interface definitions (so `{a, b}` means the same in
/// both), objects are grouped by class key, and within a class matched by V8 object id.
pub fn diff(before: &HeapSnapshot, after: &HeapSnapshot) -> Diff {
    let after_aggs = &after.aggregates;

    // Classify `before` with `after`'s interface definitions.
    let base_strings = &before.graph.strings;
    let string_count = base_strings.len() as u32;
    let mut extra_names: Vec<String> = Vec::new();
    let before_classes: Option<Vec<u32>> = if before.interfaces == after.interfaces {
        None
    } else {
        let g = &before.graph;
        let mut classes = before.classes.to_vec();
        for (n, class) in classes.iter_mut().enumerate() {
            let n = n as u32;
            if g.node_type(n) == g.meta.node_types.object && g.raw_name(n) == "Object" {
                *class = g.nodes.names[n as usize];
            }
        }
        let mut extra_index: HashMap<String, u32> = HashMap::new();
        classes::match_interfaces(g, &after.interfaces, |n, d| {
            let name = &after.interfaces[d].name;
            let index = match before.interface_names.get(name) {
                Some(&i) => i,
                None => *extra_index.entry(name.clone()).or_insert_with(|| {
                    extra_names.push(name.clone());
                    string_count + extra_names.len() as u32 - 1
                }),
            };
            classes[n as usize] = index;
        });
        Some(classes)
    };
    let extra = &extra_names;
    let reclassified;
    let base_aggs = match &before_classes {
        // Same interfaces, same classes: the aggregates the analysis built.
        None => &before.aggregates,
        Some(classes) => {
            reclassified = aggregates::build(&before.graph, &|n| classes[n], &|i| {
                base_strings.get_or_extra(extra, i)
            });
            &reclassified
        }
    };

    let base_members = members(before, base_aggs);
    let current_members = members(after, after_aggs);
    let current_by_key: HashMap<&str, usize> = after_aggs
        .list
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.shadowed)
        .map(|(i, a)| (a.key.as_str(), i))
        .collect();
    let base_keys: HashMap<&str, usize> = base_aggs
        .list
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.shadowed)
        .map(|(i, a)| (a.key.as_str(), i))
        .collect();

    let mut classes = Vec::new();
    let mut push = |name: &str, location: Option<Location>, c: Counts| {
        if c.added == 0 && c.removed == 0 {
            return;
        }
        classes.push(ClassDiff {
            name: name.to_owned(),
            location,
            added: c.added,
            removed: c.removed,
            added_size: c.added_size,
            removed_size: c.removed_size,
            count_delta: c.added as i64 - c.removed as i64,
            size_delta: c.added_size as i64 - c.removed_size as i64,
        });
    };
    for (i, a) in base_aggs.list.iter().enumerate() {
        if a.shadowed {
            continue;
        }
        let current: &[(u32, u32)] = match current_by_key.get(a.key.as_str()) {
            Some(&j) => &current_members[j],
            None => &[],
        };
        let name = current_by_key
            .get(a.key.as_str())
            .map_or(a.name.as_str(), |&j| after_aggs.list[j].name.as_str());
        push(name, a.location, compare(&base_members[i], current));
    }
    for (j, a) in after_aggs.list.iter().enumerate() {
        if a.shadowed || base_keys.contains_key(a.key.as_str()) {
            continue;
        }
        push(&a.name, a.location, compare(&[], &current_members[j]));
    }
    classes.sort_by(|a, b| {
        b.size_delta
            .unsigned_abs()
            .cmp(&a.size_delta.unsigned_abs())
            .then_with(|| {
                b.count_delta
                    .unsigned_abs()
                    .cmp(&a.count_delta.unsigned_abs())
            })
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.location.cmp(&b.location))
    });
    Diff {
        before_total_size: before.total_size,
        after_total_size: after.total_size,
        classes,
    }
}
