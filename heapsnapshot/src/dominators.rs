//! The dominator tree and retained sizes, equal to DevTools' `calculateDominatorsAndRetainedSizes`
//! (Lengauer-Tarjan, simple version, with its handling of nodes unreachable from the root).
//!
//! Computed with the Semi-NCA algorithm on preorder numbers, which yields the same tree: both
//! compute the dominators of the flow graph DevTools' numbering defines (the essential edges plus
//! an edge from the root to every node with no essential retainer), and DevTools' nodes that are
//! still unreachable get the root, as its simple LT gives them. `reference.rs` (tests) keeps the
//! transliteration of DevTools' code it is checked against. Peak memory: 13 bytes per node (the
//! preorder both ways, the semidominators and a byte of row length) plus 4 per essential edge
//! that does not go from a vertex to the next one numbered (the predecessor lists). The
//! depth-first numbering runs once; the parents come from the predecessor lists.

mod preorder;
#[cfg(test)]
mod reference;
mod semi_nca;
#[cfg(test)]
mod tests;

use std::ops::Range;

use crate::essential::{BitVec, EssentialEdges};
use crate::graph::Graph;
use crate::parallel;
use crate::progress::{Phase, Progress};
use crate::retained::RetainedSizes;

/// Immediate dominators (node ordinals; the root dominates itself; `u32::MAX` where DevTools'
/// algorithm leaves none, which this computation never does) and retained sizes.
#[derive(Debug)]
pub(crate) struct Dominators {
    pub idom: Vec<u32>,
    pub retained: RetainedSizes,
    /// The children of every node in the dominator tree.
    pub children: Children,
}

/// Compressed sparse rows built in place: `first[i]..first[i + 1]` are row i's entries.
#[derive(Debug)]
pub(crate) struct Csr {
    pub first: Vec<u32>,
    pub items: Vec<u32>,
}

impl Csr {
    /// `rows` rows; `each(visit)` must call `visit(row, item)` for every entry, twice identically
    /// (once to count, once to fill). Rows keep the order of the calls.
    pub(crate) fn build(rows: usize, each: impl Fn(&mut dyn FnMut(u32, u32))) -> Csr {
        let mut first = vec![0u32; rows + 1];
        each(&mut |row, _| first[row as usize + 1] += 1);
        for i in 0..rows {
            first[i + 1] += first[i];
        }
        let mut items = vec![0u32; first[rows] as usize];
        // `first[row]` serves as the fill cursor, ending at the next row's start...
        each(&mut |row, item| {
            let slot = &mut first[row as usize];
            items[*slot as usize] = item;
            *slot += 1;
        });
        // ...so shift back by one row.
        for i in (1..=rows).rev() {
            first[i] = first[i - 1];
        }
        first[0] = 0;
        Csr { first, items }
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[u32] {
        &self.items[self.range(i)]
    }

    #[inline]
    pub(crate) fn range(&self, i: usize) -> Range<usize> {
        self.first[i] as usize..self.first[i + 1] as usize
    }
}

/// The graph the dominators are computed on: the essential edges of a snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow<'a> {
    /// First edge of every node, plus the edge count.
    pub first_edge: &'a [u32],
    /// Target ordinal of every edge.
    pub to: &'a [u32],
    pub essential: &'a BitVec,
    /// A bit per node: it is the target of an essential edge.
    pub retained: &'a BitVec,
    pub root: u32,
}

impl Flow<'_> {
    pub(crate) fn node_count(&self) -> usize {
        self.first_edge.len() - 1
    }

    /// Essential edges of node `n`.
    #[inline]
    pub(crate) fn edges(&self, n: u32) -> impl Iterator<Item = usize> + '_ {
        let n = n as usize;
        (self.first_edge[n] as usize..self.first_edge[n + 1] as usize)
            .filter(|&e| self.essential.get(e))
    }
}

pub(crate) fn calculate(
    graph: &Graph,
    essential: &EssentialEdges,
    self_sizes: &[u32],
    progress: &dyn Progress,
) -> Dominators {
    let flow = Flow {
        first_edge: &graph.nodes.first_edge,
        to: &graph.edges.to,
        essential: &essential.edges,
        retained: &essential.retained,
        root: graph.root,
    };
    let (idom, vertex) = immediate_dominators(flow, progress);
    let total = idom.len() as u64;
    progress.report(Phase::RetainedSizes, 0, total);
    // The tree's children lists on a second thread, in arrays allocated here (memory a thread
    // frees stays in its own malloc arena), while this one sums the sizes up the tree.
    let buffers = (
        Vec::with_capacity(idom.len()),
        Vec::with_capacity(idom.len()),
    );
    let (children, retained) = parallel::both(
        "heapsnapshot-dominated",
        || Children::build(&idom, graph.root, buffers.0, buffers.1),
        || RetainedSizes::sum(self_sizes, &idom, &vertex[1..]),
    );
    drop(vertex);
    progress.report(Phase::RetainedSizes, total, total);
    Dominators {
        idom,
        retained,
        children,
    }
}

/// Immediate dominator ordinal of every node (the root's is itself), and the preorder: the
/// ordinal of every vertex number (`vertex[0]` unused).
pub(crate) fn immediate_dominators(
    flow: Flow<'_>,
    progress: &dyn Progress,
) -> (Vec<u32>, Vec<u32>) {
    let node_count = flow.node_count();
    let total = node_count as u64;
    progress.report(Phase::Dominators, 0, total);
    // Vertices are numbered 1..=n in DevTools' preorder; 0 means none. Buffers are handed on
    // rather than freed and allocated again, so no fragmentation of the heap adds to the peak.
    let mut number = vec![0u32; node_count + 1];
    let mut vertex = vec![0u32; node_count + 1];
    // Vertices whose parent in the depth-first tree is the vertex numbered just before them.
    let mut follows_parent = BitVec::new(node_count + 1);
    let order = preorder::number(flow, |ordinal, v, parent| {
        number[ordinal as usize] = v;
        vertex[v as usize] = ordinal;
        if v >= 2 && parent + 1 == v {
            follows_parent.set(v as usize);
        }
    });
    let preds = predecessors(flow, &number);
    // The rows are read in order: their lengths suffice, in a byte each.
    let Csr {
        first: mut label,
        items: preds,
    } = preds;
    let rows = semi_nca::Rows::new(&label);
    label.truncate(node_count + 1);
    progress.report(Phase::Dominators, total / 3, total);
    let parents = semi_nca::Parents {
        rows,
        items: preds,
        follows: follows_parent,
    };
    // The numbers' buffer serves as the forest's, and then as the result's.
    let (idom_by_number, mut idom) = semi_nca::run(parents, number, label, order, |done| {
        progress.report(
            Phase::Dominators,
            total / 3 + (u64::from(done) * 2 * total) / (3 * total.max(1)),
            total,
        );
    });
    idom.truncate(node_count);
    idom.fill(u32::MAX);
    for (v, &d) in idom_by_number.iter().enumerate().skip(1) {
        idom[vertex[v] as usize] = vertex[d as usize];
    }
    (idom, vertex)
}

/// Essential predecessors of every vertex, by number, in DevTools' retainer order, except the
/// vertex numbered just before it (a sixth of them): when that one retains it, it is its
/// depth-first parent, which [`semi_nca::Parents::follows`] tells. Leaving them out shrinks the
/// computation's largest array by as much.
fn predecessors(flow: Flow<'_>, number: &[u32]) -> Csr {
    let node_count = flow.node_count();
    Csr::build(node_count + 1, |visit| {
        for n in 0..node_count as u32 {
            let source = number[n as usize];
            for e in flow.edges(n) {
                let target = number[flow.to[e] as usize];
                if target != source + 1 {
                    visit(target, source);
                }
            }
        }
    })
}

/// The children of every node in the dominator tree (DevTools' `buildDominatedNodes`), as
/// linked lists: built in one pass over the dominators, where compressed rows take two.
#[derive(Debug)]
pub(crate) struct Children {
    /// A node's first child, [`Children::NONE`] for a leaf.
    first: Vec<u32>,
    /// The next child of a node's dominator, [`Children::NONE`] after the last.
    next: Vec<u32>,
}

impl Children {
    /// No node.
    pub(crate) const NONE: u32 = u32::MAX;

    /// The children of every node in the tree `idom` gives (the root's entry and entries out of
    /// range are ignored), in the buffers `first` and `next` (their contents ignored).
    fn build(idom: &[u32], root: u32, mut first: Vec<u32>, mut next: Vec<u32>) -> Children {
        let count = idom.len();
        first.clear();
        first.resize(count, Self::NONE);
        next.clear();
        next.resize(count, Self::NONE);
        // From the last node to the first, so that each list is in node order.
        for (n, &d) in idom.iter().enumerate().rev() {
            if n as u32 != root && (d as usize) < count {
                next[n] = first[d as usize];
                first[d as usize] = n as u32;
            }
        }
        Children { first, next }
    }

    /// Node n's first child, [`Children::NONE`] for a leaf.
    #[inline]
    pub(crate) fn first(&self, n: u32) -> u32 {
        self.first[n as usize]
    }

    /// The child after `n` of n's dominator, [`Children::NONE`] after the last.
    #[inline]
    pub(crate) fn next(&self, n: u32) -> u32 {
        self.next[n as usize]
    }
}
