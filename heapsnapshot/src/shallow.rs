//! DevTools' `calculateShallowSizes`: arrays, hidden (system) nodes and external string data owned by
//! exactly one object give their self size to that object.

use crate::graph::Graph;

const UNVISITED: u32 = u32::MAX;
const MULTIPLE: u32 = u32::MAX - 1;

/// Who owns each node (DevTools' first pass): the node itself, its single owner, [`UNVISITED`]
/// or [`MULTIPLE`]. `None` when the snapshot has no user roots: it then exposes internals, and
/// real allocation sizes are kept. Reads the graph only, so it can run beside other analyses.
///
/// The result is built in `buffer` and the search's stack in `stack` (their contents ignored):
/// a thread running this should get them from the caller, as memory a thread frees stays in its
/// own malloc arena.
pub(crate) fn owners(graph: &Graph, buffer: Vec<u32>, stack: Vec<u32>) -> Option<Vec<u32>> {
    let root = graph.root;
    let has_user_roots = graph
        .edges_of(root)
        .any(|e| graph.is_user_root(graph.edges.to[e]));
    if !has_user_roots {
        return None;
    }
    let count = graph.node_count();
    let types = graph.meta.node_types;
    let weak = graph.meta.edge_types.weak;
    let mut owners = buffer;
    owners.clear();
    owners.resize(count, 0);
    let mut worklist = stack;
    worklist.clear();
    for (i, owner) in owners.iter_mut().enumerate() {
        let t = graph.nodes.types[i];
        let owned = t == types.hidden
            || t == types.array
            || (t == types.native && graph.raw_name(i as u32) == "system / ExternalStringData");
        if owned {
            *owner = UNVISITED;
        } else {
            *owner = i as u32;
            worklist.push(i as u32);
        }
    }
    while let Some(id) = worklist.pop() {
        let owner = owners[id as usize];
        for e in graph.edges_of(id) {
            if graph.edges.ty(e) == weak {
                continue;
            }
            let target = graph.edges.to[e];
            let current = owners[target as usize];
            if current == UNVISITED {
                owners[target as usize] = owner;
                worklist.push(target);
            } else if current == target || current == owner || current == MULTIPLE {
            } else {
                owners[target as usize] = MULTIPLE;
                worklist.push(target);
            }
        }
    }
    Some(owners)
}

/// Moves each owned node's self size to its single owner (DevTools' second pass), given
/// [`owners`] of this graph.
pub(crate) fn apply(graph: &mut Graph, owners: Option<Vec<u32>>) {
    let Some(owners) = owners else {
        return;
    };
    let root = graph.root;
    let types = graph.meta.node_types;
    for (i, &owner) in owners.iter().enumerate() {
        if owner == UNVISITED || owner == MULTIPLE || owner as usize == i {
            continue;
        }
        if graph.nodes.types[owner as usize] == types.synthetic || owner == root {
            continue;
        }
        let size = graph.nodes.self_sizes[i];
        graph.nodes.self_sizes[i] = 0;
        let o = owner as usize;
        graph.nodes.self_sizes[o] = graph.nodes.self_sizes[o].wrapping_add(size);
    }
}
