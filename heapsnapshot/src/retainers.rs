//! Retainer paths: the shortest chains of references from a GC root to an object, following the
//! edges DevTools' Retainers view follows (not weak edges, not edges from the synthetic root).

use std::cmp::Reverse as Rev;
use std::collections::BinaryHeap;
use std::fmt;

use serde::Serialize;

use crate::dominators::Csr;
use crate::graph::Graph;
use crate::snapshot::{HeapSnapshot, NodeInfo, NodeRef};

/// Upper bound on partial paths explored per query, so a pathological graph cannot stall it.
const MAX_PARTIAL_PATHS: usize = 2_000_000;
const UNREACHABLE: u32 = u32::MAX;
/// Characters of a node name shown by `Display`.
const MAX_DISPLAYED_NAME: usize = 80;

/// Reverse adjacency, built on the first retainer query.
#[derive(Debug)]
pub(crate) struct Reverse {
    /// Edge ordinals pointing to each node.
    reverse: Csr,
    /// Hops from the nearest child of the synthetic root (0 for those), over the same edges.
    depth: Vec<u32>,
}

fn follows(g: &Graph, e: usize, source: u32) -> bool {
    let t = g.edges.ty(e);
    source != g.root && t != g.meta.edge_types.weak && t != g.meta.edge_types.invisible
}

impl Reverse {
    fn new(g: &Graph) -> Reverse {
        let count = g.node_count();
        let reverse = Csr::build(count, |visit| {
            for n in 0..count as u32 {
                for e in g.edges_of(n) {
                    visit(g.edges.to[e], e as u32);
                }
            }
        });
        let mut depth = vec![UNREACHABLE; count];
        let mut queue: Vec<u32> = Vec::new();
        for e in g.edges_of(g.root) {
            if g.edges.ty(e) == g.meta.edge_types.weak {
                continue;
            }
            let to = g.edges.to[e];
            if depth[to as usize] == UNREACHABLE && to != g.root {
                depth[to as usize] = 0;
                queue.push(to);
            }
        }
        let mut head = 0;
        while head < queue.len() {
            let n = queue[head];
            head += 1;
            let d = depth[n as usize] + 1;
            for e in g.edges_of(n) {
                let to = g.edges.to[e];
                if depth[to as usize] == UNREACHABLE && to != g.root && follows(g, e, n) {
                    depth[to as usize] = d;
                    queue.push(to);
                }
            }
        }
        Reverse { reverse, depth }
    }

    fn of(&self, n: u32) -> &[u32] {
        self.reverse.row(n as usize)
    }
}

/// One reference of a retainer path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeInfo {
    /// Edge type: `property`, `element`, `context`, `internal`, `hidden`, `shortcut`.
    pub edge_type: String,
    /// Property name, element index, context variable or internal name.
    pub name: String,
    /// As DevTools writes it: `.name`, `["a b"]`, `[3]`, `->var`, `{internal}`.
    pub label: String,
}

/// A chain of references from a GC root (a node the snapshot's synthetic root holds directly, such
/// as the global object or `(GC roots)`) to the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetainerPath {
    /// The nodes, from the GC root to the object.
    pub nodes: Vec<NodeInfo>,
    /// `edges[i]` goes from `nodes[i]` to `nodes[i + 1]`.
    pub edges: Vec<EdgeInfo>,
}

impl fmt::Display for RetainerPath {
    /// `global @5 .leak → Array @7 [3] → LeakyClass @9`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, node) in self.nodes.iter().enumerate() {
            if i > 0 {
                write!(f, " {} → ", self.edges[i - 1].label)?;
            }
            let name = if node.name.is_empty() {
                &node.class_name
            } else {
                &node.name
            };
            // Strings can be megabytes long.
            match name.char_indices().nth(MAX_DISPLAYED_NAME) {
                Some((end, _)) => write!(f, "{}… @{}", &name[..end], node.id)?,
                None => write!(f, "{name} @{}", node.id)?,
            }
        }
        Ok(())
    }
}

fn edge_label(edge_type: &str, name: &str) -> String {
    match edge_type {
        "context" => format!("->{name}"),
        "element" => format!("[{name}]"),
        "weak" => format!("[[{name}]]"),
        "property" | "shortcut" => {
            if name.contains(' ') {
                format!("[\"{name}\"]")
            } else {
                format!(".{name}")
            }
        }
        "internal" | "hidden" | "invisible" => format!("{{{name}}}"),
        _ => format!("?{name}?"),
    }
}

struct Partial {
    node: u32,
    /// Edge from `node` to the parent partial's node.
    edge: u32,
    parent: u32,
    length: u32,
}

impl HeapSnapshot {
    fn edge_info(&self, e: usize) -> EdgeInfo {
        let g = &self.graph;
        let edge_type = g.edge_type_name(e).to_owned();
        let name = g.edge_name(e).into_owned();
        let label = edge_label(&edge_type, &name);
        EdgeInfo {
            edge_type,
            name,
            label,
        }
    }

    /// Up to `k` shortest retainer paths of `node`, shortest first (none when no GC root reaches
    /// it through strong references). The first query builds a reverse index of the graph (4 bytes
    /// per edge and 8 per node).
    pub fn retainer_paths(&self, node: NodeRef, k: usize) -> Vec<RetainerPath> {
        let g = &self.graph;
        let reverse = self.reverse.get_or_init(|| Reverse::new(g));
        let target = node.0;
        if k == 0
            || target as usize >= g.node_count()
            || reverse.depth[target as usize] == UNREACHABLE
        {
            return Vec::new();
        }
        let mut partials = vec![Partial {
            node: target,
            edge: u32::MAX,
            parent: u32::MAX,
            length: 0,
        }];
        // (estimated total length, -length: deeper first, insertion order).
        let mut heap = BinaryHeap::new();
        heap.push(Rev((reverse.depth[target as usize], Rev(0u32), 0u32)));
        let mut found: Vec<u32> = Vec::new();
        while let Some(Rev((_, _, at))) = heap.pop() {
            let p = &partials[at as usize];
            let (v, length) = (p.node, p.length);
            if reverse.depth[v as usize] == 0 {
                found.push(at);
                if found.len() == k {
                    break;
                }
                continue;
            }
            for &e in reverse.of(v) {
                let source = g.edge_source(e as usize);
                let d = reverse.depth[source as usize];
                if d == UNREACHABLE || !follows(g, e as usize, source) {
                    continue;
                }
                // Simple paths only.
                let mut cursor = at;
                let mut seen = false;
                while cursor != u32::MAX {
                    let c = &partials[cursor as usize];
                    if c.node == source {
                        seen = true;
                        break;
                    }
                    cursor = c.parent;
                }
                if seen {
                    continue;
                }
                if partials.len() >= MAX_PARTIAL_PATHS {
                    break;
                }
                let next = partials.len() as u32;
                partials.push(Partial {
                    node: source,
                    edge: e,
                    parent: at,
                    length: length + 1,
                });
                heap.push(Rev((length + 1 + d, Rev(length + 1), next)));
            }
        }
        found
            .into_iter()
            .map(|at| {
                let mut nodes = Vec::new();
                let mut edges = Vec::new();
                let mut cursor = at;
                while cursor != u32::MAX {
                    let p = &partials[cursor as usize];
                    nodes.push(self.node(NodeRef(p.node)));
                    if p.edge != u32::MAX {
                        edges.push(self.edge_info(p.edge as usize));
                    }
                    cursor = p.parent;
                }
                RetainerPath { nodes, edges }
            })
            .collect()
    }
}
