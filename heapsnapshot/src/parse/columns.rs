//! Columnar storage of nodes and edges, filled value by value by the integer scanner. Only the
//! fields the analysis needs are kept, each in its own array of the narrowest type.

use super::ids::Ids;
use super::meta::{EdgeField, Meta, NodeField};
use super::numbers::{FastDiv, IntSink, to_u32};
use crate::error::{Error, Result};

/// Node columns, indexed by node ordinal (DevTools' node index divided by the field count).
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    pub types: Vec<u8>,
    pub names: Vec<u32>,
    pub ids: Ids,
    pub self_sizes: Vec<u32>,
    /// While parsing: each node's edge count. After [`Nodes::index_edges`]: the ordinal of its
    /// first edge, with one more entry at the end (the edge count).
    pub first_edge: Vec<u32>,
    /// Empty when the snapshot has no `detachedness` field.
    pub detachedness: Vec<u8>,
}

impl Nodes {
    pub(crate) fn len(&self) -> usize {
        self.types.len()
    }

    /// Frees unused capacity (the arrays grow as they are read when the header has no counts),
    /// keeping room for the edge count `index_edges` appends.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.types.shrink_to_fit();
        self.names.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.self_sizes.shrink_to_fit();
        self.first_edge.shrink_to(self.first_edge.len() + 1);
        self.detachedness.shrink_to_fit();
    }

    /// Turns edge counts into first-edge ordinals; checks they add up to `edge_count`.
    pub(crate) fn index_edges(&mut self, edge_count: usize) -> Result<()> {
        let mut next: u64 = 0;
        for slot in self.first_edge.iter_mut() {
            let count = u64::from(*slot);
            *slot = u32::try_from(next).map_err(|_| Error::TooLarge {
                what: "edges",
                count: next,
            })?;
            next += count;
        }
        if next != edge_count as u64 {
            return Err(Error::inconsistent(format!(
                "the nodes' edge counts add up to {next} but the edges array holds {edge_count} edges"
            )));
        }
        self.first_edge.push(next as u32);
        Ok(())
    }
}

/// Edge columns, indexed by edge ordinal.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    /// The type in the low `type_bits` bits, `name_or_index` above them, or [`Edges::escape`]
    /// there when it does not fit (then it is in `large_names`).
    packed: Vec<u32>,
    /// `(edge, name_or_index)` of the edges whose name did not fit, by edge.
    large_names: Vec<(u32, u32)>,
    type_bits: u32,
    /// Target node *ordinal*.
    pub to: Vec<u32>,
}

impl Edges {
    /// Room for `capacity` edges whose types are below `type_count`.
    pub(crate) fn with_capacity(capacity: usize, type_count: u64) -> Edges {
        // Types are stored as `u8`, as everywhere else.
        let largest = type_count.saturating_sub(1).min(255) as u32;
        Edges {
            packed: Vec::with_capacity(capacity),
            large_names: Vec::new(),
            type_bits: (32 - largest.leading_zeros()).max(1),
            to: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.packed.len()
    }

    /// The `name_or_index` value meaning "in `large_names`".
    fn escape(&self) -> u32 {
        u32::MAX >> self.type_bits
    }

    #[inline]
    pub(crate) fn push(&mut self, ty: u8, name: u32, to: u32) {
        let escape = self.escape();
        let stored = if name < escape {
            name
        } else {
            self.large_names.push((self.packed.len() as u32, name));
            escape
        };
        self.packed.push((stored << self.type_bits) | u32::from(ty));
        self.to.push(to);
    }

    /// Edge `e`'s type.
    #[inline]
    pub(crate) fn ty(&self, e: usize) -> u8 {
        (self.packed[e] & ((1 << self.type_bits) - 1)) as u8
    }

    /// Edge `e`'s `name_or_index`: a string index, or an element/hidden index.
    #[inline]
    pub(crate) fn name(&self, e: usize) -> u32 {
        let name = self.packed[e] >> self.type_bits;
        if name != self.escape() {
            return name;
        }
        self.large_names
            .binary_search_by_key(&(e as u32), |&(edge, _)| edge)
            .map_or(name, |i| self.large_names[i].1)
    }

    /// Frees unused capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.packed.shrink_to_fit();
        self.large_names.shrink_to_fit();
        self.to.shrink_to_fit();
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        4 * (self.packed.capacity() + self.to.capacity()) + 8 * self.large_names.capacity()
    }
}

/// The largest references the sinks stored, so that `validate` checks them without another pass
/// over the arrays (it looks for the offending record only when one is out of range).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LargestReferences {
    /// Node names (string indices).
    pub node_name: u32,
    /// Names of edges whose `name_or_index` is a string index (not element or hidden edges).
    pub edge_string_name: u32,
    /// Edge targets (node ordinals).
    pub edge_to: u32,
}

fn reserve(count: Option<u64>) -> usize {
    // Trust the header for exact allocation, but not blindly: at most 2^31 entries up front.
    count.map_or(0, |c| c.min(1 << 31) as usize)
}

/// Fills [`Nodes`].
#[derive(Debug)]
pub(crate) struct NodeSink {
    pub nodes: Nodes,
    fields: Vec<NodeField>,
    /// The record being read.
    record: Vec<u64>,
    cursor: usize,
    at: NodePositions,
    type_count: u64,
    /// Self sizes above 4 GiB, wrapped as DevTools' `Uint32Array` does.
    pub wrapped_sizes: u64,
    /// The largest name stored.
    pub largest_name: u32,
}

impl NodeSink {
    pub(crate) fn new(meta: &Meta) -> NodeSink {
        let n = reserve(meta.node_count);
        let nodes = Nodes {
            types: Vec::with_capacity(n),
            names: Vec::with_capacity(n),
            ids: Ids::default(),
            self_sizes: Vec::with_capacity(n),
            first_edge: Vec::with_capacity(n + 1),
            detachedness: Vec::with_capacity(if meta.has_detachedness { n } else { 0 }),
        };
        let position = |f: NodeField| meta.node_fields.iter().position(|&x| x == f);
        let at = NodePositions {
            // `Meta::parse` checked the required ones exist.
            type_: position(NodeField::Type).unwrap_or(0),
            name: position(NodeField::Name).unwrap_or(0),
            id: position(NodeField::Id).unwrap_or(0),
            self_size: position(NodeField::SelfSize).unwrap_or(0),
            edge_count: position(NodeField::EdgeCount).unwrap_or(0),
            detachedness: position(NodeField::Detachedness),
        };
        NodeSink {
            nodes,
            fields: meta.node_fields.clone(),
            record: vec![0; meta.node_fields.len()],
            cursor: 0,
            at,
            type_count: meta.node_type_names.len() as u64,
            wrapped_sizes: 0,
            largest_name: 0,
        }
    }

    /// Whether the last record is complete.
    pub(crate) fn complete(&self) -> bool {
        self.cursor == 0
    }
}

const NODES: &str = "nodes";
const EDGES: &str = "edges";

#[derive(Debug, Clone, Copy)]
struct NodePositions {
    type_: usize,
    name: usize,
    id: usize,
    self_size: usize,
    edge_count: usize,
    detachedness: Option<usize>,
}

impl NodeSink {
    #[inline(always)]
    fn store(&mut self, r: &[u64], offset: u64) -> Result<()> {
        let at = self.at;
        let ty = r[at.type_];
        if ty >= self.type_count {
            return Err(Error::syntax(
                offset,
                NODES,
                format!("node type {ty} is not in meta.node_types"),
            ));
        }
        let self_size = r[at.self_size];
        if self_size > u64::from(u32::MAX) {
            self.wrapped_sizes += 1;
        }
        let name = to_u32(r[at.name], offset, NODES)?;
        self.largest_name = self.largest_name.max(name);
        let n = &mut self.nodes;
        n.types.push(ty as u8);
        n.names.push(name);
        n.ids.push(to_u32(r[at.id], offset, NODES)?);
        n.self_sizes.push(self_size as u32);
        n.first_edge.push(to_u32(r[at.edge_count], offset, NODES)?);
        if let Some(d) = at.detachedness {
            n.detachedness.push((r[d] & 3) as u8);
        }
        Ok(())
    }
}

impl IntSink for NodeSink {
    fn accept(&mut self, values: &[u64], offset: u64) -> Result<()> {
        let width = self.fields.len();
        let mut values = values;
        // Complete a record split across batches.
        while self.cursor != 0 && !values.is_empty() {
            self.record[self.cursor] = values[0];
            values = &values[1..];
            self.cursor += 1;
            if self.cursor == width {
                self.cursor = 0;
                let record = std::mem::take(&mut self.record);
                let stored = self.store(&record, offset);
                self.record = record;
                stored?;
            }
        }
        let mut records = values.chunks_exact(width);
        for record in &mut records {
            self.store(record, offset)?;
        }
        for &value in records.remainder() {
            self.record[self.cursor] = value;
            self.cursor += 1;
        }
        Ok(())
    }
}

/// Fills [`Edges`].
#[derive(Debug)]
pub(crate) struct EdgeSink {
    pub edges: Edges,
    fields: Vec<EdgeField>,
    record: Vec<u64>,
    cursor: usize,
    /// Positions of type, name_or_index and to_node.
    at: [usize; 3],
    type_count: u64,
    div: FastDiv,
    node_field_count: usize,
    /// The types whose `name_or_index` is an index, not a string.
    index_types: [u8; 2],
    /// The largest string index among the names stored.
    pub largest_string_name: u32,
    /// The largest target stored.
    pub largest_to: u32,
}

impl EdgeSink {
    pub(crate) fn new(meta: &Meta) -> EdgeSink {
        let n = reserve(meta.edge_count);
        let position = |f: EdgeField| meta.edge_fields.iter().position(|&x| x == f).unwrap_or(0);
        EdgeSink {
            record: vec![0; meta.edge_fields.len()],
            at: [
                position(EdgeField::Type),
                position(EdgeField::NameOrIndex),
                position(EdgeField::ToNode),
            ],
            edges: Edges::with_capacity(n, meta.edge_type_names.len() as u64),
            fields: meta.edge_fields.clone(),
            cursor: 0,
            // Without DevTools' own `invisible`.
            type_count: meta.edge_type_names.len() as u64 - 1,
            div: FastDiv::new(meta.node_fields.len() as u32),
            node_field_count: meta.node_fields.len(),
            index_types: [meta.edge_types.element, meta.edge_types.hidden],
            largest_string_name: 0,
            largest_to: 0,
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.cursor == 0
    }
}

impl EdgeSink {
    #[inline(always)]
    fn store(&mut self, r: &[u64], offset: u64) -> Result<()> {
        let ty = r[self.at[0]];
        if ty >= self.type_count {
            return Err(Error::syntax(
                offset,
                EDGES,
                format!("edge type {ty} is not in meta.edge_types"),
            ));
        }
        let name = to_u32(r[self.at[1]], offset, EDGES)?;
        let index = to_u32(r[self.at[2]], offset, EDGES)?;
        let ordinal = self.div.exact(index).ok_or_else(|| {
            Error::syntax(
                offset,
                EDGES,
                format!(
                    "to_node {index} is not a multiple of the node field count {}",
                    self.node_field_count
                ),
            )
        })?;
        let string_name = if self.index_types.contains(&(ty as u8)) {
            0
        } else {
            name
        };
        self.largest_string_name = self.largest_string_name.max(string_name);
        self.largest_to = self.largest_to.max(ordinal);
        self.edges.push(ty as u8, name, ordinal);
        Ok(())
    }
}

impl IntSink for EdgeSink {
    fn accept(&mut self, values: &[u64], offset: u64) -> Result<()> {
        let width = self.fields.len();
        let mut values = values;
        while self.cursor != 0 && !values.is_empty() {
            self.record[self.cursor] = values[0];
            values = &values[1..];
            self.cursor += 1;
            if self.cursor == width {
                self.cursor = 0;
                let record = std::mem::take(&mut self.record);
                let stored = self.store(&record, offset);
                self.record = record;
                stored?;
            }
        }
        let mut records = values.chunks_exact(width);
        for record in &mut records {
            self.store(record, offset)?;
        }
        for &value in records.remainder() {
            self.record[self.cursor] = value;
            self.cursor += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_types_and_names_share_a_word_and_large_names_survive() {
        // 8 types: 3 bits, names below 2^29 - 1 packed.
        let mut edges = Edges::with_capacity(0, 8);
        let names = [0, 5, (1 << 29) - 2, (1 << 29) - 1, 1 << 29, u32::MAX, 17];
        for (i, &name) in names.iter().enumerate() {
            edges.push((i % 8) as u8, name, i as u32);
        }
        for (i, &name) in names.iter().enumerate() {
            assert_eq!(edges.ty(i), (i % 8) as u8, "type of edge {i}");
            assert_eq!(edges.name(i), name, "name of edge {i}");
            assert_eq!(edges.to[i], i as u32);
        }
        assert_eq!(edges.large_names.len(), 3);
    }

    #[test]
    fn up_to_256_edge_types_fit() {
        let mut edges = Edges::with_capacity(0, 256);
        edges.push(255, 1 << 20, 0);
        edges.push(3, u32::MAX, 1);
        assert_eq!((edges.ty(0), edges.name(0)), (255, 1 << 20));
        assert_eq!((edges.ty(1), edges.name(1)), (3, u32::MAX));
    }
}
