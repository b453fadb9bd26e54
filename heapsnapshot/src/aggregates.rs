//! Grouping nodes by class as DevTools' `buildAggregates` and `calculateClassesRetainedSize` do:
//! only nodes with a non-zero self size; objects with a constructor location are keyed by
//! location *and* name (two classes of one name in two scripts are two rows); a class's retained
//! size sums the retained sizes of its nodes not dominated by another node of the class.

use std::collections::HashMap;

use crate::dominators;
use crate::graph::Location;
use crate::snapshot::HeapSnapshot;

/// No class: the node has a zero self size.
pub(crate) const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    /// Class name.
    pub name: String,
    pub location: Option<Location>,
    /// DevTools' public class key (`,Name` or `script,line,column,Name`).
    pub key: String,
    pub count: u64,
    pub self_size: u64,
    pub retained_size: u64,
    /// Another aggregate with the same public key replaced this one (DevTools keeps the last).
    pub shadowed: bool,
}

#[derive(Debug)]
pub(crate) struct Aggregates {
    pub list: Vec<Aggregate>,
    /// Aggregate of every node, [`NONE`] for nodes with a zero self size.
    pub of_node: Vec<u32>,
}

/// Groups nodes by class. `classes[n]` is node n's class name id; `name` resolves an id.
pub(crate) fn build<'a>(
    snapshot: &'a HeapSnapshot,
    classes: &[u32],
    name: &dyn Fn(u32) -> &'a str,
) -> Aggregates {
    let g = &snapshot.graph;
    let object = g.meta.node_types.object;
    let count = g.node_count();
    let mut by_index: HashMap<u32, u32> = HashMap::new();
    let mut by_location_index: HashMap<(Location, u32), u32> = HashMap::new();
    let mut by_location_name: HashMap<(Location, &'a str), u32> = HashMap::new();
    let mut list: Vec<Aggregate> = Vec::new();
    let mut of_node = vec![NONE; count];
    let mut locations = g.locations.iter().peekable();
    for n in 0..count {
        let self_size = g.nodes.self_sizes[n];
        if self_size == 0 {
            continue;
        }
        let class = classes[n];
        let location = if g.nodes.types[n] == object {
            while locations.next_if(|&&(o, _)| (o as usize) < n).is_some() {}
            locations
                .peek()
                .filter(|&&&(o, _)| o as usize == n)
                .map(|&&(_, l)| l)
        } else {
            None
        };
        let create = |list: &mut Vec<Aggregate>| -> u32 {
            let class_name = name(class);
            let key = match location {
                Some(l) => format!("{},{},{},{class_name}", l.script_id, l.line, l.column),
                None => format!(",{class_name}"),
            };
            list.push(Aggregate {
                name: class_name.to_owned(),
                location,
                key,
                count: 0,
                self_size: 0,
                retained_size: 0,
                shadowed: false,
            });
            (list.len() - 1) as u32
        };
        let agg = match location {
            None => match by_index.get(&class) {
                Some(&a) => a,
                None => {
                    let a = create(&mut list);
                    by_index.insert(class, a);
                    a
                }
            },
            Some(l) => match by_location_index.get(&(l, class)) {
                Some(&a) => a,
                None => {
                    let a = match by_location_name.get(&(l, name(class))) {
                        Some(&a) => a,
                        None => {
                            let a = create(&mut list);
                            by_location_name.insert((l, name(class)), a);
                            a
                        }
                    };
                    by_location_index.insert((l, class), a);
                    a
                }
            },
        };
        let a = &mut list[agg as usize];
        a.count += 1;
        a.self_size += u64::from(self_size);
        of_node[n] = agg;
    }
    // DevTools stores aggregates under their public key; a later one replaces an earlier one.
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut shadowed = Vec::new();
    for (i, a) in list.iter().enumerate() {
        if let Some(previous) = by_key.insert(a.key.as_str(), i) {
            shadowed.push(previous);
        }
    }
    for i in shadowed {
        list[i].shadowed = true;
    }
    Aggregates { list, of_node }
}

/// Adds retained sizes to `aggregates` (DevTools' `calculateClassesRetainedSize`).
pub(crate) fn retained_sizes(snapshot: &HeapSnapshot, aggregates: &mut Aggregates) {
    let root = snapshot.graph.root;
    let dominated = dominators::dominated_nodes(&snapshot.idom, root);
    let mut active = vec![0u32; aggregates.list.len()];
    // Depth-first over the dominator tree; the high bit marks leaving a node.
    const LEAVE: u64 = 1 << 32;
    let mut stack: Vec<u64> = vec![u64::from(root)];
    while let Some(item) = stack.pop() {
        let n = (item & 0xffff_ffff) as u32;
        let agg = aggregates.of_node[n as usize];
        if item & LEAVE != 0 {
            active[agg as usize] -= 1;
            continue;
        }
        if agg != NONE {
            if active[agg as usize] == 0 {
                aggregates.list[agg as usize].retained_size += snapshot.retained[n as usize];
            }
            active[agg as usize] += 1;
            stack.push(u64::from(n) | LEAVE);
        }
        stack.extend(dominated.row(n as usize).iter().map(|&c| u64::from(c)));
    }
}
