//! Which edges count for the dominator tree (DevTools' `initEssentialEdges`), after marking the
//! page-owned nodes (`markPageOwnedNodes`).

use crate::graph::Graph;
use crate::weakmap;

/// A bit per edge.
#[derive(Debug)]
pub(crate) struct BitVec {
    words: Vec<u64>,
}

impl BitVec {
    pub(crate) fn new(len: usize) -> BitVec {
        BitVec {
            words: vec![0; len.div_ceil(64)],
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.words[i >> 6] & (1 << (i & 63)) != 0
    }

    #[inline]
    pub(crate) fn set(&mut self, i: usize) {
        self.words[i >> 6] |= 1 << (i & 63);
    }
}

/// Nodes reachable (through non-weak edges) from the root's shortcut edges (the global objects) and
/// from `(Document DOM trees)`.
pub(crate) fn page_owned(graph: &Graph) -> BitVec {
    let mut flags = BitVec::new(graph.node_count());
    let mut stack: Vec<u32> = Vec::new();
    let types = graph.meta.edge_types;
    for e in graph.edges_of(graph.root) {
        let t = graph.edges.ty(e);
        let to = graph.edges.to[e];
        if t == types.element {
            let document_trees = graph.node_type(to) == graph.meta.node_types.synthetic
                && graph.raw_name(to) == "(Document DOM trees)";
            if !document_trees {
                continue;
            }
        } else if t != types.shortcut {
            continue;
        }
        stack.push(to);
        flags.set(to as usize);
    }
    while let Some(n) = stack.pop() {
        for e in graph.edges_of(n) {
            let child = graph.edges.to[e];
            if flags.get(child as usize) || graph.edges.ty(e) == types.weak {
                continue;
            }
            stack.push(child);
            flags.set(child as usize);
        }
    }
    flags
}

/// The edges the dominator tree is computed over, and the nodes they retain.
#[derive(Debug)]
pub(crate) struct EssentialEdges {
    /// A bit per edge.
    pub edges: BitVec,
    /// A bit per node: it has at least one essential retainer (marked here, in the same pass,
    /// rather than in another pass over every edge).
    pub retained: BitVec,
}

/// The essential-edge bitmap.
pub(crate) fn essential_edges(graph: &Graph, page_owned: &BitVec) -> EssentialEdges {
    let mut essential = BitVec::new(graph.edge_count());
    let mut retained = BitVec::new(graph.node_count());
    let types = graph.meta.edge_types;
    // Names that are not WeakMap edges, cached (DevTools caches the negative answer too).
    let mut not_weakmap = BitVec::new(graph.strings.len());
    for n in 0..graph.node_count() as u32 {
        let node_owned = page_owned.get(n as usize);
        for e in graph.edges_of(n) {
            let t = graph.edges.ty(e);
            if t == types.internal {
                let name = graph.edges.name(e) as usize;
                if !not_weakmap.get(name) {
                    match weakmap::parse(graph.strings.get(name as u32)) {
                        Some(m) => {
                            if m.table_id == u64::from(graph.nodes.ids[n as usize]) {
                                continue;
                            }
                        }
                        None => not_weakmap.set(name),
                    }
                }
            }
            if t == types.weak {
                continue;
            }
            let child = graph.edges.to[e];
            if child == n {
                continue;
            }
            if n != graph.root {
                if t == types.shortcut {
                    continue;
                }
                if page_owned.get(child as usize) && !node_owned {
                    continue;
                }
            }
            essential.set(e);
            retained.set(child as usize);
        }
    }
    EssentialEdges {
        edges: essential,
        retained,
    }
}
