//! Which edges count for the dominator tree (DevTools' `initEssentialEdges`), after marking the
//! page-owned nodes (`markPageOwnedNodes`).

use std::ops::Range;

use crate::graph::Graph;
use crate::{parallel, weakmap};

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

/// The essential-edge bitmap, worked out on two threads taking chunks of the nodes in turn (the
/// cost of an edge varies along the snapshot: fixed halves left one thread idle for a third of
/// the time).
pub(crate) fn essential_edges(graph: &Graph, page_owned: &BitVec) -> EssentialEdges {
    const CHUNKS: usize = 64;
    let node_count = graph.node_count();
    let edge_count = graph.edge_count();
    let mut essential = BitVec::new(edge_count);
    // Chunks start where a node's edges start a word, so that each writes whole words of its own.
    let first_edge = &graph.nodes.first_edge;
    let mut starts = vec![0];
    for k in 1..CHUNKS {
        let target = first_edge.partition_point(|&e| (e as usize) < k * edge_count / CHUNKS);
        let aligned = (target..node_count)
            .take(4096)
            .find(|&n| first_edge[n] % 64 == 0 && n > *starts.last().unwrap_or(&0));
        starts.extend(aligned);
    }
    starts.push(node_count);
    let mut chunks = Vec::with_capacity(starts.len());
    let mut words: &mut [u64] = &mut essential.words;
    for pair in starts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let word_end = if end == node_count {
            words.len()
        } else {
            (first_edge[end] - first_edge[start]) as usize / 64
        };
        let (chunk, rest) = std::mem::take(&mut words).split_at_mut(word_end);
        words = rest;
        chunks.push((start..end, chunk));
    }
    let chunks = std::sync::Mutex::new(chunks.into_iter());
    let mark = |retained: &mut BitVec| loop {
        let next = chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next();
        let Some((nodes, words)) = next else { break };
        mark_essential(graph, page_owned, nodes, words, retained);
    };
    // Allocated on this thread (memory a thread frees stays in its own malloc arena).
    let (mut retained, mut other_retained) = (BitVec::new(node_count), BitVec::new(node_count));
    parallel::both(
        "heapsnapshot-essential",
        || mark(&mut other_retained),
        || mark(&mut retained),
    );
    for (word, other) in retained.words.iter_mut().zip(&other_retained.words) {
        *word |= other;
    }
    EssentialEdges {
        edges: essential,
        retained,
    }
}

/// Marks the essential edges of the nodes in `nodes` in `words`, whose first bit is the first
/// edge of `nodes.start` (a multiple of 64), and the nodes they retain in `retained`.
fn mark_essential(
    graph: &Graph,
    page_owned: &BitVec,
    nodes: Range<usize>,
    words: &mut [u64],
    retained: &mut BitVec,
) {
    let base = graph.nodes.first_edge[nodes.start] as usize;
    let types = graph.meta.edge_types;
    // Names that are not WeakMap edges, cached (DevTools caches the negative answer too).
    let mut not_weakmap = BitVec::new(graph.strings.len());
    for n in nodes.start as u32..nodes.end as u32 {
        let node_owned = page_owned.get(n as usize);
        for e in graph.edges_of(n) {
            let t = graph.edges.ty(e);
            if t == types.internal {
                let name = graph.edges.name(e) as usize;
                if !not_weakmap.get(name) {
                    match weakmap::parse(graph.strings.get(name as u32)) {
                        Some(m) => {
                            if m.table_id == u64::from(graph.nodes.ids.get(n as usize)) {
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
                if !node_owned && page_owned.get(child as usize) {
                    continue;
                }
            }
            let bit = e - base;
            words[bit >> 6] |= 1 << (bit & 63);
            retained.set(child as usize);
        }
    }
}
