//! The dominator tree and retained sizes, exactly as DevTools' `calculateDominatorsAndRetainedSizes`
//! (Lengauer-Tarjan, simple version, with its handling of nodes unreachable from the root), on
//! `u32` arrays with no per-node allocation. Peak memory: 24 bytes per node plus 4 per essential
//! edge (its predecessor lists).

use crate::essential::BitVec;
use crate::graph::Graph;
use crate::progress::{Phase, Progress};

/// Immediate dominators (node ordinals; the root dominates itself; `u32::MAX` where DevTools'
/// algorithm leaves none, which only happens for nodes unreachable even from weak roots) and
/// retained sizes.
#[derive(Debug)]
pub(crate) struct Dominators {
    pub idom: Vec<u32>,
    pub retained: Vec<u64>,
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
        &self.items[self.first[i] as usize..self.first[i + 1] as usize]
    }
}

pub(crate) fn calculate(
    graph: &Graph,
    essential: &BitVec,
    self_sizes: &[u32],
    progress: &dyn Progress,
) -> Dominators {
    let node_count = graph.node_count();
    let total = node_count as u64;
    progress.report(Phase::Dominators, 0, total);
    let first_edge = &graph.nodes.first_edge;
    let to = &graph.edges.to;
    // Essential predecessors of every node.
    let preds = Csr::build(node_count, |visit| {
        for n in 0..node_count as u32 {
            for e in graph.edges_of(n) {
                if essential.get(e) {
                    visit(to[e], n);
                }
            }
        }
    });

    // Vertices are numbered 1..=n (ordinal + 1); 0 means none.
    let len = node_count + 1;
    // The DFS parent of a vertex until it is processed, then its (provisional) dominator.
    let mut parent_dom = vec![0u32; len];
    let mut semi = vec![0u32; len];
    let mut vertex = vec![0u32; len];
    let mut label = vec![0u32; len];
    let mut n: u32 = 0;

    // Iterative DFS over essential edges, numbering vertices in preorder: the same order as
    // DevTools' DFS with its per-node next-edge cursor.
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut dfs = |root: u32,
                   parent: &mut [u32],
                   semi: &mut [u32],
                   vertex: &mut [u32],
                   label: &mut [u32],
                   n: &mut u32| {
        *n += 1;
        semi[root as usize] = *n;
        vertex[*n as usize] = root;
        label[root as usize] = root;
        stack.push((root, first_edge[(root - 1) as usize]));
        while let Some(top) = stack.last_mut() {
            let (v, cursor) = *top;
            let end = first_edge[v as usize];
            let mut e = cursor as usize;
            let mut next = None;
            while e < end as usize {
                if essential.get(e) {
                    let w = to[e] + 1;
                    if semi[w as usize] == 0 {
                        next = Some(w);
                        break;
                    }
                }
                e += 1;
            }
            top.1 = e as u32;
            match next {
                Some(w) => {
                    parent[w as usize] = v;
                    *n += 1;
                    semi[w as usize] = *n;
                    vertex[*n as usize] = w;
                    label[w as usize] = w;
                    stack.push((w, first_edge[(w - 1) as usize]));
                }
                None => {
                    stack.pop();
                }
            }
        }
    };

    let r = graph.root + 1;
    dfs(
        r,
        &mut parent_dom,
        &mut semi,
        &mut vertex,
        &mut label,
        &mut n,
    );
    if (n as usize) < node_count {
        tracing::debug!(
            unreachable = node_count - n as usize,
            "Heap snapshot nodes unreachable from the root; visiting those with only weak retainers."
        );
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 && preds.row((v - 1) as usize).is_empty() {
                parent_dom[v as usize] = r;
                dfs(
                    v,
                    &mut parent_dom,
                    &mut semi,
                    &mut vertex,
                    &mut label,
                    &mut n,
                );
            }
        }
    }
    drop(stack);
    if (n as usize) < node_count {
        tracing::debug!(
            unreachable = node_count - n as usize,
            "Heap snapshot nodes still unreachable (cycles retained by one another); attaching them to the root."
        );
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 {
                parent_dom[v as usize] = r;
                n += 1;
                semi[v as usize] = n;
                vertex[n as usize] = v;
                label[v as usize] = v;
            }
        }
    }
    progress.report(Phase::Dominators, total / 3, total);

    // `parent_dom[w]` becomes w's forest ancestor when w is linked (simple LT links w to its DFS
    // parent, the value already there); `linked` stands for "ancestor is not 0".
    let mut linked = BitVec::new(len);
    let mut bucket_head = vec![0u32; len];
    // A vertex's bucket successor while it waits in a bucket, then its dominator (`dom_set`).
    let mut next_dom = vec![0u32; len];
    let mut dom_set = BitVec::new(len);
    let mut compression: Vec<u32> = Vec::new();
    let step = (n / 64).max(1);
    for i in (2..=n).rev() {
        if i % step == 0 {
            progress.report(
                Phase::Dominators,
                total / 3 + (u64::from(n - i) * 2 * total) / (3 * u64::from(n)),
                total,
            );
        }
        let w = vertex[i as usize];
        let predecessors = preds.row((w - 1) as usize);
        if predecessors.is_empty() {
            // Orphans count as having the root as their only predecessor.
            semi[w as usize] = semi[r as usize];
        }
        let mut forest = Forest {
            ancestor: &mut parent_dom,
            linked: &linked,
            label: &mut label,
            semi: &semi,
            stack: &mut compression,
        };
        let mut least = semi[w as usize];
        for &v_ordinal in predecessors {
            let u = forest.eval(v_ordinal + 1);
            least = least.min(forest.semi[u as usize]);
        }
        semi[w as usize] = least;
        let owner = vertex[least as usize] as usize;
        next_dom[w as usize] = bucket_head[owner];
        bucket_head[owner] = w;
        let p = parent_dom[w as usize];
        linked.set(w as usize);
        let mut forest = Forest {
            ancestor: &mut parent_dom,
            linked: &linked,
            label: &mut label,
            semi: &semi,
            stack: &mut compression,
        };
        let mut v = bucket_head[p as usize];
        while v != 0 {
            let u = forest.eval(v);
            let next = next_dom[v as usize];
            next_dom[v as usize] = if forest.semi[u as usize] < forest.semi[v as usize] {
                u
            } else {
                p
            };
            dom_set.set(v as usize);
            v = next;
        }
        bucket_head[p as usize] = 0;
    }
    drop((bucket_head, linked, label, preds, compression, parent_dom));

    // Unset dominators read as 0, and dom[0] is the root, as in DevTools.
    let dom = |x: u32, next_dom: &[u32], dom_set: &BitVec| -> u32 {
        if x == 0 {
            r
        } else if dom_set.get(x as usize) {
            next_dom[x as usize]
        } else {
            0
        }
    };
    next_dom[r as usize] = r;
    dom_set.set(r as usize);
    for i in 2..=n {
        let w = vertex[i as usize];
        let d = dom(w, &next_dom, &dom_set);
        if d != vertex[semi[w as usize] as usize] {
            next_dom[w as usize] = dom(d, &next_dom, &dom_set);
            dom_set.set(w as usize);
        }
    }
    drop(semi);

    progress.report(Phase::RetainedSizes, 0, total);
    let idom: Vec<u32> = (1..len as u32)
        .map(|v| dom(v, &next_dom, &dom_set).wrapping_sub(1))
        .collect();
    drop(next_dom);
    let mut retained: Vec<u64> = self_sizes.iter().map(|&s| u64::from(s)).collect();
    for i in (2..=n).rev() {
        let ordinal = (vertex[i as usize] - 1) as usize;
        let size = retained[ordinal];
        // DevTools' typed arrays ignore writes out of range (a missing dominator).
        if let Some(slot) = retained.get_mut(idom[ordinal] as usize) {
            *slot += size;
        }
    }
    progress.report(Phase::RetainedSizes, total, total);
    Dominators { idom, retained }
}

/// The forest of LT's link/eval, on borrowed arrays.
struct Forest<'a> {
    ancestor: &'a mut [u32],
    linked: &'a BitVec,
    label: &'a mut [u32],
    semi: &'a [u32],
    stack: &'a mut Vec<u32>,
}

impl Forest<'_> {
    #[inline]
    fn ancestor(&self, v: u32) -> u32 {
        if self.linked.get(v as usize) {
            self.ancestor[v as usize]
        } else {
            0
        }
    }

    /// `evaluate(v)` of the paper: the vertex of least semidominator on v's path in the forest,
    /// with iterative path compression.
    #[inline]
    fn eval(&mut self, v: u32) -> u32 {
        if self.ancestor(v) == 0 {
            return v;
        }
        self.stack.clear();
        let mut x = v;
        while self.ancestor(self.ancestor(x)) != 0 {
            self.stack.push(x);
            x = self.ancestor(x);
        }
        while let Some(w) = self.stack.pop() {
            let a = self.ancestor(w);
            let (la, lw) = (self.label[a as usize], self.label[w as usize]);
            if self.semi[la as usize] < self.semi[lw as usize] {
                self.label[w as usize] = la;
            }
            self.ancestor[w as usize] = self.ancestor(a);
        }
        self.label[v as usize]
    }
}

/// Children of every node in the dominator tree (DevTools' `buildDominatedNodes`).
pub(crate) fn dominated_nodes(idom: &[u32], root: u32) -> Csr {
    let count = idom.len();
    Csr::build(count, |visit| {
        for (n, &d) in idom.iter().enumerate() {
            if n as u32 != root && (d as usize) < count {
                visit(d, n as u32);
            }
        }
    })
}
