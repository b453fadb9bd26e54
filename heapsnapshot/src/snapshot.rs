//! [`HeapSnapshot`]: a parsed and analysed snapshot, and its constructors.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

use crate::aggregates::{self, Aggregates};
use crate::class_column::ClassColumn;
use crate::classes::InterfaceDefinition;
use crate::error::Result;
use crate::graph::{Graph, Location};
use crate::parse::{self, RawSnapshot};
use crate::progress::{NoProgress, Phase, Progress};
use crate::retained::RetainedSizes;
use crate::retainers::Reverse;
use crate::{classify, dom_state, dominators, essential, parallel, shallow};

/// A node of a snapshot, by position. Only meaningful for the snapshot it came from: methods given
/// a `NodeRef` of a larger snapshot panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NodeRef(pub(crate) u32);

impl NodeRef {
    /// The node's ordinal (its index in the `nodes` array divided by the field count).
    pub fn ordinal(self) -> u32 {
        self.0
    }
}

/// What DevTools shows for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// V8's object id (`@id` in DevTools), stable across snapshots of one process.
    pub id: u32,
    /// Node type: `object`, `closure`, `string`, `array`, `hidden`, `synthetic`...
    pub node_type: String,
    /// The raw name: constructor name for objects, function name, string contents...
    pub name: String,
    /// The Summary view's class (constructor) name.
    pub class_name: String,
    /// Self size in bytes, after DevTools moves owned arrays' sizes to their owner.
    pub self_size: u64,
    /// Retained size in bytes.
    pub retained_size: u64,
    /// Where the constructor was defined, for objects, when the snapshot lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A parsed and analysed V8 heap snapshot: dominator tree, retained sizes and class names
/// computed as Chrome DevTools computes them.
#[derive(Debug)]
pub struct HeapSnapshot {
    pub(crate) graph: Graph,
    /// Class name string index per node.
    pub(crate) classes: ClassColumn,
    pub(crate) interfaces: Vec<InterfaceDefinition>,
    /// Interface name -> string index (DevTools' `#interfaceNames`).
    pub(crate) interface_names: HashMap<String, u32>,
    /// The class aggregates (DevTools' `buildAggregates`), with their retained sizes.
    pub(crate) aggregates: Aggregates,
    pub(crate) idom: Vec<u32>,
    pub(crate) retained: RetainedSizes,
    pub(crate) total_size: u64,
    pub(crate) reverse: OnceLock<Reverse>,
}

impl HeapSnapshot {
    /// Reads and analyses a `.heapsnapshot` file (gzip-compressed or not).
    pub fn from_path(path: impl AsRef<Path>) -> Result<HeapSnapshot> {
        Self::from_path_with_progress(path, &NoProgress)
    }

    /// [`from_path`](Self::from_path), reporting progress.
    pub fn from_path_with_progress(
        path: impl AsRef<Path>,
        progress: &dyn Progress,
    ) -> Result<HeapSnapshot> {
        let raw = parse::parse_path(path.as_ref(), progress)?;
        Self::analyze(raw, progress)
    }

    /// Reads and analyses an uncompressed snapshot from any reader (read in 1 MiB chunks; no need
    /// to wrap it in a `BufReader`).
    pub fn from_reader(reader: impl Read) -> Result<HeapSnapshot> {
        Self::from_reader_with_progress(reader, 0, &NoProgress)
    }

    /// [`from_reader`](Self::from_reader), reporting progress; `total_bytes` is the input's size
    /// when known (0 otherwise), for the parse phase's progress.
    pub fn from_reader_with_progress(
        reader: impl Read,
        total_bytes: u64,
        progress: &dyn Progress,
    ) -> Result<HeapSnapshot> {
        let raw = parse::parse_reader(reader, total_bytes, progress, None)?;
        Self::analyze(raw, progress)
    }

    pub(crate) fn analyze(raw: RawSnapshot, progress: &dyn Progress) -> Result<HeapSnapshot> {
        let extra_native_bytes = raw.meta.extra_native_bytes;
        let mut graph = Graph::new(raw);
        const INDEX_STEPS: u64 = 3;
        progress.report(Phase::Index, 0, INDEX_STEPS);
        dom_state::propagate(&mut graph);
        // Only needed to propagate the DOM state.
        graph.nodes.detachedness = Vec::new();
        progress.report(Phase::Index, 1, INDEX_STEPS);
        // Who owns which array or hidden node (the first pass of the shallow sizes) only reads
        // the graph: worked out on a second thread while this one finds the essential edges.
        // The owners' arrays are allocated here, on this thread, so that they are freed to its
        // malloc arena, where the next arrays of this thread reuse them.
        let (owners_buffer, owners_stack) = (
            Vec::with_capacity(graph.node_count()),
            Vec::with_capacity(graph.node_count()),
        );
        let (essential, owners) = std::thread::scope(|scope| {
            let finding_owners = parallel::spawn(scope, "heapsnapshot-owners", || {
                shallow::owners(&graph, owners_buffer, owners_stack)
            });
            let page_owned = essential::page_owned(&graph);
            progress.report(Phase::Index, 2, INDEX_STEPS);
            let essential = essential::essential_edges(&graph, &page_owned);
            drop(page_owned);
            progress.report(Phase::Index, INDEX_STEPS, INDEX_STEPS);
            progress.report(Phase::ShallowSizes, 0, 1);
            let owners = parallel::join_or_run(finding_owners, || {
                shallow::owners(&graph, Vec::new(), Vec::new())
            });
            (essential, owners)
        });
        shallow::apply(&mut graph, owners);
        progress.report(Phase::ShallowSizes, 1, 1);

        // The classes need no dominator tree: they are worked out on a second thread meanwhile
        // (or afterwards, on this one, when no thread can be started).
        let (doms, mut classified) = std::thread::scope(|scope| {
            let classifying =
                parallel::spawn(scope, "heapsnapshot-classes", || classify::classify(&graph));
            let doms = dominators::calculate(&graph, &essential, &graph.nodes.self_sizes, progress);
            progress.report(Phase::ClassNames, 0, 1);
            let classified = parallel::join_or_run(classifying, || classify::classify(&graph));
            (doms, classified)
        });
        drop(essential);
        for added in &classified.added {
            graph.strings.push(added);
        }
        progress.report(Phase::ClassNames, 1, 1);
        progress.report(Phase::Classes, 0, 1);
        aggregates::add_retained_sizes(&mut classified.aggregates, graph.root, &doms);
        progress.report(Phase::Classes, 1, 1);

        let total_size = doms.retained.get(graph.root as usize) + extra_native_bytes;
        tracing::debug!(
            nodes = graph.node_count(),
            edges = graph.edge_count(),
            total_size,
            "Heap snapshot analysed."
        );
        Ok(HeapSnapshot {
            graph,
            classes: classified.classes,
            interfaces: classified.interfaces,
            interface_names: classified.interface_names,
            aggregates: classified.aggregates,
            idom: doms.idom,
            retained: doms.retained,
            total_size,
            reverse: OnceLock::new(),
        })
    }

    /// Number of nodes (objects, strings, code, internal and synthetic nodes).
    pub fn node_count(&self) -> u64 {
        self.graph.node_count() as u64
    }

    /// Number of edges.
    pub fn edge_count(&self) -> u64 {
        self.graph.edge_count() as u64
    }

    /// DevTools' `statistics.total`: the root's retained size plus `extra_native_bytes`.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The synthetic root node.
    pub fn root(&self) -> NodeRef {
        NodeRef(self.graph.root)
    }

    /// The node with V8 object id `id` (linear scan).
    pub fn node_by_id(&self, id: u32) -> Option<NodeRef> {
        self.graph
            .nodes
            .ids
            .iter()
            .position(|i| i == id)
            .map(|p| NodeRef(p as u32))
    }

    /// The nodes the Summary view lists under class `name` (those with a non-zero self size), in
    /// snapshot order.
    pub fn find_class(&self, name: &str) -> Vec<NodeRef> {
        // Several string indices can hold the same class name: compare the text once per index.
        let mut verdict: HashMap<u32, bool> = HashMap::new();
        let mut found = Vec::new();
        for n in 0..self.classes.len() {
            if self.graph.nodes.self_sizes[n] == 0 {
                continue;
            }
            let class = self.classes.get(n);
            let is = *verdict
                .entry(class)
                .or_insert_with(|| self.graph.strings.get(class) == name);
            if is {
                found.push(NodeRef(n as u32));
            }
        }
        found
    }

    /// The Summary view's class name of a node.
    pub fn class_name(&self, node: NodeRef) -> &str {
        self.graph.strings.get(self.classes.get(node.0 as usize))
    }

    /// The node's immediate dominator (the root is its own); `None` where DevTools' algorithm
    /// leaves none (only nodes unreachable even through weak references can lack one).
    pub fn dominator(&self, node: NodeRef) -> Option<NodeRef> {
        let d = self.idom[node.0 as usize];
        ((d as usize) < self.idom.len()).then_some(NodeRef(d))
    }

    /// The node's retained size.
    pub fn retained_size(&self, node: NodeRef) -> u64 {
        self.retained.get(node.0 as usize)
    }

    /// What DevTools shows for a node.
    pub fn node(&self, node: NodeRef) -> NodeInfo {
        let n = node.0;
        let g = &self.graph;
        let location = (g.node_type(n) == g.meta.node_types.object)
            .then(|| g.location(n))
            .flatten();
        NodeInfo {
            id: g.nodes.ids.get(n as usize),
            node_type: g.type_name(n).to_owned(),
            name: g.raw_name(n).to_owned(),
            class_name: self.class_name(node).to_owned(),
            self_size: u64::from(g.nodes.self_sizes[n as usize]),
            retained_size: self.retained.get(n as usize),
            location,
        }
    }

    /// Approximate heap bytes held by this snapshot's arrays.
    pub fn memory_bytes(&self) -> u64 {
        let g = &self.graph;
        let n = &g.nodes;
        (n.types.capacity()
            + n.detachedness.capacity()
            + 4 * (n.names.capacity() + n.self_sizes.capacity() + n.first_edge.capacity())
            + n.ids.heap_bytes()
            + g.edges.heap_bytes()
            + g.strings.heap_bytes()
            + g.locations.heap_bytes()
            + self.classes.heap_bytes()
            + 4 * self.idom.capacity()
            + self.retained.heap_bytes()) as u64
    }
}
