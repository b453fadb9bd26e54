//! DevTools' `calculateDominatorsAndRetainedSizes` transliterated (Lengauer-Tarjan, simple
//! version, buckets, its passes for unreachable nodes and its final step), with no concern for
//! memory: what the Semi-NCA computation is checked against.

use super::{Csr, Flow};

/// `(immediate dominators, retained sizes)` by node ordinal, as DevTools computes them.
pub(super) fn dominators(flow: Flow<'_>, self_sizes: &[u32]) -> (Vec<u32>, Vec<u64>) {
    let node_count = flow.node_count();
    let preds = Csr::build(node_count, |visit| {
        for n in 0..node_count as u32 {
            for e in flow.edges(n) {
                visit(flow.to[e], n);
            }
        }
    });
    let len = node_count + 1;
    let mut parent = vec![0u32; len];
    let mut ancestor = vec![0u32; len];
    let mut vertex = vec![0u32; len];
    let mut label = vec![0u32; len];
    let mut semi = vec![0u32; len];
    let mut bucket: Vec<Vec<u32>> = vec![Vec::new(); len];
    let mut n: u32 = 0;
    let mut next_edge = vec![0u32; len];
    let mut dfs = |root: u32,
                   n: &mut u32,
                   parent: &mut [u32],
                   semi: &mut [u32],
                   vertex: &mut [u32],
                   label: &mut [u32]| {
        next_edge[(root - 1) as usize] = flow.first_edge[(root - 1) as usize];
        let mut v = root;
        while v != 0 {
            if semi[v as usize] == 0 {
                *n += 1;
                semi[v as usize] = *n;
                vertex[*n as usize] = v;
                label[v as usize] = v;
            }
            let mut v_next = parent[v as usize];
            let o = (v - 1) as usize;
            while next_edge[o] < flow.first_edge[o + 1] {
                let e = next_edge[o] as usize;
                if flow.essential.get(e) {
                    let w = flow.to[e] + 1;
                    if semi[w as usize] == 0 {
                        parent[w as usize] = v;
                        next_edge[(w - 1) as usize] = flow.first_edge[(w - 1) as usize];
                        v_next = w;
                        break;
                    }
                }
                next_edge[o] += 1;
            }
            v = v_next;
        }
    };
    let r = flow.root + 1;
    dfs(r, &mut n, &mut parent, &mut semi, &mut vertex, &mut label);
    if (n as usize) < node_count {
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 && preds.row((v - 1) as usize).is_empty() {
                parent[v as usize] = r;
                dfs(v, &mut n, &mut parent, &mut semi, &mut vertex, &mut label);
            }
        }
    }
    if (n as usize) < node_count {
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 {
                parent[v as usize] = r;
                n += 1;
                semi[v as usize] = n;
                vertex[n as usize] = v;
                label[v as usize] = v;
            }
        }
    }
    fn compress(v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32]) {
        let mut stack = Vec::new();
        let mut v = v;
        while ancestor[ancestor[v as usize] as usize] != 0 {
            stack.push(v);
            v = ancestor[v as usize];
        }
        while let Some(w) = stack.pop() {
            let a = ancestor[w as usize] as usize;
            if semi[label[a] as usize] < semi[label[w as usize] as usize] {
                label[w as usize] = label[a];
            }
            ancestor[w as usize] = ancestor[a];
        }
    }
    let evaluate = |v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32]| -> u32 {
        if ancestor[v as usize] == 0 {
            return v;
        }
        compress(v, ancestor, label, semi);
        label[v as usize]
    };
    let mut dom = vec![0u32; len];
    for i in (2..=n).rev() {
        let w = vertex[i as usize];
        let predecessors = preds.row((w - 1) as usize);
        for &v_ordinal in predecessors {
            let u = evaluate(v_ordinal + 1, &mut ancestor, &mut label, &semi);
            if semi[u as usize] < semi[w as usize] {
                semi[w as usize] = semi[u as usize];
            }
        }
        if predecessors.is_empty() {
            semi[w as usize] = semi[r as usize];
        }
        bucket[vertex[semi[w as usize] as usize] as usize].push(w);
        let p = parent[w as usize];
        ancestor[w as usize] = p;
        for v in std::mem::take(&mut bucket[p as usize]) {
            let u = evaluate(v, &mut ancestor, &mut label, &semi);
            dom[v as usize] = if semi[u as usize] < semi[v as usize] {
                u
            } else {
                p
            };
        }
    }
    dom[0] = r;
    dom[r as usize] = r;
    for i in 2..=n {
        let w = vertex[i as usize];
        if dom[w as usize] != vertex[semi[w as usize] as usize] {
            dom[w as usize] = dom[dom[w as usize] as usize];
        }
    }
    let idom: Vec<u32> = (1..len).map(|v| dom[v].wrapping_sub(1)).collect();
    let mut retained: Vec<u64> = self_sizes.iter().map(|&s| u64::from(s)).collect();
    for i in (2..=n).rev() {
        let ordinal = (vertex[i as usize] - 1) as usize;
        let size = retained[ordinal];
        if let Some(slot) = retained.get_mut(idom[ordinal] as usize) {
            *slot += size;
        }
    }
    (idom, retained)
}
