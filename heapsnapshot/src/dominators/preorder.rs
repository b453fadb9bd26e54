//! DevTools' vertex numbering for its Lengauer-Tarjan: depth-first over essential edges from the
//! root, then from every node with no essential retainer (an "orphan", given the root as parent),
//! then every node still unvisited on its own (parent: the root), each pass in ordinal order.

use super::Flow;
use crate::essential::BitVec;

/// How [`number`] numbered the vertices.
#[derive(Debug, Clone, Copy)]
pub(super) struct Numbering {
    /// Vertices numbered (all nodes): numbers are `1..=count`, the root is 1.
    pub count: u32,
    /// The first number of the last pass (`count + 1` when it numbered none): those vertices were
    /// not reached by any depth-first search.
    pub unreached: u32,
}

/// Numbers every node, calling `visit(ordinal, number, parent number)` in number order (the
/// root's parent is 0).
pub(super) fn number(flow: Flow<'_>, mut visit: impl FnMut(u32, u32, u32)) -> Numbering {
    let node_count = flow.node_count();
    let mut visited = BitVec::new(node_count);
    let mut count: u32 = 0;
    // (ordinal, next edge to look at, number)
    let mut stack: Vec<(u32, u32, u32)> = Vec::new();
    let mut dfs = |root: u32, parent: u32, visited: &mut BitVec, count: &mut u32| {
        *count += 1;
        visited.set(root as usize);
        visit(root, *count, parent);
        stack.push((root, flow.first_edge[root as usize], *count));
        while let Some(top) = stack.last_mut() {
            let (v, cursor, v_number) = *top;
            let end = flow.first_edge[v as usize + 1] as usize;
            let mut e = cursor as usize;
            let mut next = None;
            while e < end {
                if flow.essential.get(e) {
                    let w = flow.to[e];
                    if !visited.get(w as usize) {
                        next = Some(w);
                        break;
                    }
                }
                e += 1;
            }
            match next {
                Some(w) => {
                    top.1 = e as u32 + 1;
                    *count += 1;
                    visited.set(w as usize);
                    visit(w, *count, v_number);
                    stack.push((w, flow.first_edge[w as usize], *count));
                }
                None => {
                    stack.pop();
                }
            }
        }
    };
    dfs(flow.root, 0, &mut visited, &mut count);
    const ROOT: u32 = 1;
    if (count as usize) < node_count {
        tracing::debug!(
            unreachable = node_count - count as usize,
            "Heap snapshot nodes unreachable from the root; visiting those with only weak retainers."
        );
        for n in 0..node_count as u32 {
            if !visited.get(n as usize) && !flow.retained.get(n as usize) {
                dfs(n, ROOT, &mut visited, &mut count);
            }
        }
    }
    let unreached = count + 1;
    if (count as usize) < node_count {
        tracing::debug!(
            unreachable = node_count - count as usize,
            "Heap snapshot nodes still unreachable (cycles retained by one another); attaching them to the root."
        );
        for n in 0..node_count as u32 {
            if !visited.get(n as usize) {
                count += 1;
                visit(n, count, ROOT);
            }
        }
    }
    Numbering { count, unreached }
}
