//! Grouping nodes by class as DevTools' `buildAggregates` and `calculateClassesRetainedSize` do:
//! only nodes with a non-zero self size; objects with a constructor location are keyed by
//! location *and* name (two classes of one name in two scripts are two rows); a class's retained
//! size sums the retained sizes of its nodes not dominated by another node of the class.

use std::collections::HashMap;

use crate::dominators::{Children, Dominators};
use crate::graph::{Graph, Location};

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
    pub of_node: OfNode,
}

/// Aggregate of every node, in 2 bytes each while there are fewer than 65535 aggregates.
#[derive(Debug)]
pub(crate) enum OfNode {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl OfNode {
    const NARROW_NONE: u16 = u16::MAX;

    fn new(count: usize) -> OfNode {
        OfNode::Narrow(vec![Self::NARROW_NONE; count])
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            OfNode::Narrow(v) => v.len(),
            OfNode::Wide(v) => v.len(),
        }
    }

    /// Node n's aggregate, [`NONE`] for none.
    #[inline]
    pub(crate) fn get(&self, n: usize) -> u32 {
        match self {
            OfNode::Narrow(v) if v[n] == Self::NARROW_NONE => NONE,
            OfNode::Narrow(v) => u32::from(v[n]),
            OfNode::Wide(v) => v[n],
        }
    }

    fn set(&mut self, n: usize, agg: u32) {
        match self {
            OfNode::Narrow(v) => match u16::try_from(agg) {
                Ok(a) if a != Self::NARROW_NONE => v[n] = a,
                _ => {
                    let mut wide: Vec<u32> = (0..v.len()).map(|i| self.get(i)).collect();
                    wide[n] = agg;
                    *self = OfNode::Wide(wide);
                }
            },
            OfNode::Wide(v) => v[n] = agg,
        }
    }
}

/// Groups nodes by class. `class_of(n)` is node n's class name id; `name` resolves an id.
pub(crate) fn build<'a>(
    g: &Graph,
    class_of: &dyn Fn(usize) -> u32,
    name: &dyn Fn(u32) -> &'a str,
) -> Aggregates {
    let object = g.meta.node_types.object;
    let count = g.node_count();
    let mut by_index: HashMap<u32, u32> = HashMap::new();
    let mut by_location_index: HashMap<(Location, u32), u32> = HashMap::new();
    let mut by_location_name: HashMap<(Location, &'a str), u32> = HashMap::new();
    let mut list: Vec<Aggregate> = Vec::new();
    let mut of_node = OfNode::new(count);
    let mut locations = g.locations.iter().peekable();
    for n in 0..count {
        let self_size = g.nodes.self_sizes[n];
        if self_size == 0 {
            continue;
        }
        let class = class_of(n);
        let location = if g.nodes.types[n] == object {
            while locations.next_if(|&(o, _)| (o as usize) < n).is_some() {}
            locations
                .peek()
                .filter(|&&(o, _)| o as usize == n)
                .map(|&(_, l)| l)
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
        of_node.set(n, agg);
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

/// Adds the aggregates' retained sizes (DevTools' `calculateClassesRetainedSize`), given the
/// dominator tree from `root`: depth-first over the tree, a node's retained size counts for its
/// class when no node above it is of that class.
pub(crate) fn add_retained_sizes(aggregates: &mut Aggregates, root: u32, doms: &Dominators) {
    let Aggregates { list, of_node } = aggregates;
    let children = &doms.children;
    // Nodes of every class on the path from the root.
    let mut active = vec![0u32; list.len()];
    let mut enter = |n: u32, active: &mut [u32]| -> u32 {
        let agg = of_node.get(n as usize);
        if agg != NONE {
            if active[agg as usize] == 0 {
                list[agg as usize].retained_size += doms.retained.get(n as usize);
            }
            active[agg as usize] += 1;
        }
        agg
    };
    let leave = |agg: u32, active: &mut [u32]| {
        if agg != NONE {
            active[agg as usize] -= 1;
        }
    };
    // (class of a node on the path, its next child to enter): the stack grows with the tree's
    // depth, not its width.
    let mut stack: Vec<(u32, u32)> = vec![(enter(root, &mut active), children.first(root))];
    while let Some(top) = stack.last_mut() {
        let child = top.1;
        if child == Children::NONE {
            leave(top.0, &mut active);
            stack.pop();
            continue;
        }
        top.1 = children.next(child);
        let agg = enter(child, &mut active);
        match children.first(child) {
            Children::NONE => leave(agg, &mut active),
            first => stack.push((agg, first)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_aggregates_widen_past_65534() {
        let mut of_node = OfNode::new(4);
        of_node.set(0, 7);
        of_node.set(2, 65_534);
        assert!(matches!(of_node, OfNode::Narrow(_)));
        assert_eq!(
            (of_node.get(0), of_node.get(1), of_node.get(2)),
            (7, NONE, 65_534)
        );
        of_node.set(3, 65_535);
        assert!(matches!(of_node, OfNode::Wide(_)));
        let all: Vec<u32> = (0..of_node.len()).map(|n| of_node.get(n)).collect();
        assert_eq!(all, vec![7, NONE, 65_534, 65_535]);
        of_node.set(1, 100_000);
        assert_eq!(of_node.get(1), 100_000);
    }
}
