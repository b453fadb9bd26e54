//! DevTools' `propagateDOMState`: attached/detached state flows from embedder (native) nodes that
//! know it to the native nodes they reach; detached ones are renamed `Detached <name>`.

use std::collections::HashMap;

use crate::graph::Graph;

const ATTACHED: u8 = 1;
const DETACHED: u8 = 2;

/// Runs only when the snapshot has a `detachedness` node field, as DevTools does.
pub(crate) fn propagate(graph: &mut Graph) {
    if !graph.meta.has_detachedness {
        return;
    }
    let count = graph.node_count();
    let native = graph.meta.node_types.native;
    let skip = [
        graph.meta.edge_types.hidden,
        graph.meta.edge_types.invisible,
        graph.meta.edge_types.weak,
    ];
    let mut visited = vec![false; count];
    let mut attached: Vec<u32> = Vec::new();
    let mut detached: Vec<u32> = Vec::new();
    let mut renamed: HashMap<u32, u32> = HashMap::new();

    let mut process = |graph: &mut Graph,
                       visited: &mut Vec<bool>,
                       attached: &mut Vec<u32>,
                       detached: &mut Vec<u32>,
                       n: u32,
                       state: u8| {
        let i = n as usize;
        if visited[i] {
            return;
        }
        if graph.nodes.types[i] != native {
            visited[i] = true;
            return;
        }
        graph.nodes.detachedness[i] = state;
        if state == ATTACHED {
            attached.push(n);
        } else if state == DETACHED {
            let old = graph.nodes.names[i];
            let new = match renamed.get(&old) {
                Some(&new) => new,
                None => {
                    let name = format!("Detached {}", graph.strings.get(old));
                    let new = graph.strings.push(&name);
                    renamed.insert(old, new);
                    new
                }
            };
            graph.nodes.names[i] = new;
            detached.push(n);
        }
        visited[i] = true;
    };

    for n in 0..count as u32 {
        let state = graph.nodes.detachedness[n as usize];
        if state == 0 {
            continue;
        }
        process(graph, &mut visited, &mut attached, &mut detached, n, state);
    }
    let children = |graph: &Graph, n: u32| -> Vec<u32> {
        graph
            .edges_of(n)
            .filter(|&e| !skip.contains(&graph.edges.ty(e)))
            .map(|e| graph.edges.to[e])
            .collect()
    };
    while let Some(n) = attached.pop() {
        for child in children(graph, n) {
            process(
                graph,
                &mut visited,
                &mut attached,
                &mut detached,
                child,
                ATTACHED,
            );
        }
    }
    while let Some(n) = detached.pop() {
        if graph.nodes.detachedness[n as usize] == ATTACHED {
            continue;
        }
        for child in children(graph, n) {
            process(
                graph,
                &mut visited,
                &mut attached,
                &mut detached,
                child,
                DETACHED,
            );
        }
    }
}
