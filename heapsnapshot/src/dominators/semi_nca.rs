//! Semi-NCA (Georgiadis): semidominators as in Lengauer-Tarjan's simple version (`eval` with path
//! compression, vertices linked in reverse preorder), then each immediate dominator as the nearest
//! common ancestor of parent and semidominator in the dominator tree built so far. Everything is
//! on preorder numbers, and the arrays are reused: 12 bytes per vertex plus the predecessor lists.

use super::preorder::Numbering;
use crate::essential::BitVec;

const ROOT: u32 = 1;

/// How many semidominators between calls of `run`'s `tick` (a power of two: a mask, not a
/// division, per vertex).
pub(super) const TICK: u32 = 1 << 14;

/// Row lengths of a CSR whose rows are read in order, a byte each.
#[derive(Debug)]
pub(super) struct Rows {
    short: Vec<u8>,
    /// `(row, length)` of rows of [`LONG`] entries or more, by row.
    long: Vec<(u32, u32)>,
}

const LONG: u8 = u8::MAX;

impl Rows {
    /// From CSR offsets (`first[i]..first[i + 1]` is row i).
    pub(super) fn new(first: &[u32]) -> Rows {
        let mut long = Vec::new();
        let short = first
            .windows(2)
            .enumerate()
            .map(|(row, w)| {
                let len = w[1] - w[0];
                if len >= u32::from(LONG) {
                    long.push((row as u32, len));
                    LONG
                } else {
                    len as u8
                }
            })
            .collect();
        Rows { short, long }
    }

    #[inline]
    fn len(&self, row: u32) -> usize {
        let short = self.short[row as usize];
        if short != LONG {
            return usize::from(short);
        }
        self.long
            .binary_search_by_key(&row, |&(r, _)| r)
            .map_or(0, |i| self.long[i].1 as usize)
    }
}

/// The predecessors of every vertex, by number.
#[derive(Debug)]
pub(super) struct Parents {
    /// Length of every vertex's row in `items`.
    pub rows: Rows,
    /// The predecessor numbers of every vertex, row after row, without the vertex numbered just
    /// before it.
    pub items: Vec<u32>,
    /// Vertices of which the vertex numbered just before is a predecessor, left out of its row:
    /// it is then its depth-first parent (the search went from it straight to the vertex).
    pub follows: BitVec,
}

/// Immediate dominator number of every vertex number (index 0 unused; the root's is itself).
/// `ancestor` and `label`: buffers of one entry per vertex number plus one (contents ignored).
/// Returns the dominators, and `ancestor` (contents undefined) for reuse. `tick(done)` is called
/// every [`TICK`] semidominators, with the count computed so far.
///
/// The depth-first parents come from the predecessors, with no second search: every
/// predecessor numbered before a vertex is one of its ancestors in the depth-first tree (the
/// search from it reached the vertex before it ended), so the parent is the latest numbered of
/// them. A vertex that starts a search has no predecessor (it is an orphan) and the root as
/// parent; vertices no search reached are never processed and keep the root.
pub(super) fn run(
    parents: Parents,
    mut ancestor: Vec<u32>,
    mut label: Vec<u32>,
    order: Numbering,
    mut tick: impl FnMut(u32),
) -> (Vec<u32>, Vec<u32>) {
    let Parents {
        rows,
        mut items,
        follows,
    } = parents;
    // Rows of the vertices no search reached come last.
    let mut end: usize = (0..order.unreached).map(|v| rows.len(v)).sum();
    // The forest of `eval`: a vertex is linked, to its parent, when its number exceeds the one
    // being processed. Parents are written as vertices are processed.
    ancestor.fill(ROOT);
    // The least semidominator on the (compressed) forest path up to the vertex; a vertex's own
    // number until it is processed.
    for (v, l) in label.iter_mut().enumerate() {
        *l = v as u32;
    }
    let mut stack: Vec<u32> = Vec::new();
    for w in (2..order.unreached).rev() {
        let done = order.unreached - 1 - w;
        if done % TICK == 0 {
            tick(done);
        }
        let row = end - rows.len(w)..end;
        end = row.start;
        // Orphans count as having the root as their only predecessor, and parent.
        let follows_parent = follows.get(w as usize);
        let (mut semi, mut p) = if follows_parent {
            (w - 1, w - 1)
        } else if row.is_empty() {
            (ROOT, ROOT)
        } else {
            (w, ROOT)
        };
        for &v in &items[row.clone()] {
            if v < w {
                // Not linked yet: its own number.
                semi = semi.min(v);
                p = p.max(v);
            } else {
                semi = semi.min(eval(&mut ancestor, &mut label, &mut stack, v, w));
            }
        }
        label[w as usize] = semi;
        ancestor[w as usize] = p;
        // Keep what the second pass needs in the row, whose predecessors are no longer needed:
        // the semidominator, then the parent unless `follows` tells it. With one predecessor in
        // all, that is the parent, which is then also the semidominator; with none in the row,
        // both are the vertex before, or the root for an orphan.
        match (follows_parent, row.len()) {
            (_, 0) => {}
            (true, _) | (false, 1) => items[row.start] = semi,
            (false, _) => {
                items[row.start] = semi;
                items[row.start + 1] = p;
            }
        }
    }
    // Vertices no search reached: DevTools' simple LT gives them the root.
    let mut idom = label;
    idom[ROOT as usize] = ROOT;
    let mut start = rows.len(0) + rows.len(ROOT);
    for w in 2..=order.count {
        let row = start..start + rows.len(w);
        start = row.end;
        if w >= order.unreached {
            idom[w as usize] = ROOT;
            continue;
        }
        let (semi, parent) = match (follows.get(w as usize), row.len()) {
            (true, 0) => (w - 1, w - 1),
            (true, _) => (items[row.start], w - 1),
            (false, 0) => (ROOT, ROOT),
            (false, 1) => (items[row.start], items[row.start]),
            (false, _) => (items[row.start], items[row.start + 1]),
        };
        let mut d = parent;
        while d > semi {
            d = idom[d as usize];
        }
        idom[w as usize] = d;
    }
    (idom, ancestor)
}

/// The least semidominator on v's forest path (LT's `eval`, returning the label's semidominator),
/// with iterative path compression. Vertices above `w` are linked.
#[inline]
fn eval(ancestor: &mut [u32], label: &mut [u32], stack: &mut Vec<u32>, v: u32, w: u32) -> u32 {
    if v <= w || ancestor[v as usize] <= w {
        return label[v as usize];
    }
    stack.clear();
    let mut x = v;
    while ancestor[x as usize] > w {
        stack.push(x);
        x = ancestor[x as usize];
    }
    // `x` is the last linked vertex on the path: compress below it, from the top down.
    while let Some(y) = stack.pop() {
        let a = ancestor[y as usize] as usize;
        if label[a] < label[y as usize] {
            label[y as usize] = label[a];
        }
        ancestor[y as usize] = ancestor[a];
    }
    label[v as usize]
}
