//! The parsed graph in columnar form, and the small accessors DevTools' node and edge objects offer.

use std::borrow::Cow;
use std::ops::Range;

use serde::Serialize;

use crate::jsstr;
use crate::locations::Locations;
use crate::parse::{Edges, Meta, Nodes, RawSnapshot, StringTable};

/// Where a constructor was defined (`locations` of the snapshot), for objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// V8 script id.
    pub script_id: u32,
    /// Zero-based line.
    pub line: u32,
    /// Zero-based column.
    pub column: u32,
}

/// Columnar nodes and edges plus strings; node references are ordinals.
#[derive(Debug)]
pub(crate) struct Graph {
    pub meta: Meta,
    pub nodes: Nodes,
    pub edges: Edges,
    pub strings: StringTable,
    /// The constructor locations, by node.
    pub locations: Locations,
    pub root: u32,
}

impl Graph {
    pub(crate) fn new(raw: RawSnapshot) -> Graph {
        let field_count = raw.meta.node_fields.len() as u32;
        let locations = match raw.meta.location_fields {
            Some((at, len)) => Locations::from_raw(raw.locations, at, len, field_count),
            None => Locations::default(),
        };
        let root = (raw.meta.root_index / u64::from(field_count)) as u32;
        Graph {
            meta: raw.meta,
            nodes: raw.nodes,
            edges: raw.edges,
            strings: raw.strings,
            locations,
            root,
        }
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.types.len()
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Edge ordinals of node `n`.
    #[inline]
    pub(crate) fn edges_of(&self, n: u32) -> Range<usize> {
        let n = n as usize;
        self.nodes.first_edge[n] as usize..self.nodes.first_edge[n + 1] as usize
    }

    /// The node owning edge `e`.
    pub(crate) fn edge_source(&self, e: usize) -> u32 {
        // first_edge is non-decreasing; the owner is the last node whose first edge is <= e.
        let after =
            self.nodes.first_edge[..self.node_count()].partition_point(|&f| f as usize <= e);
        after.saturating_sub(1) as u32
    }

    #[inline]
    pub(crate) fn node_type(&self, n: u32) -> u8 {
        self.nodes.types[n as usize]
    }

    pub(crate) fn raw_name(&self, n: u32) -> &str {
        self.strings.get(self.nodes.names[n as usize])
    }

    pub(crate) fn type_name(&self, n: u32) -> &str {
        self.meta
            .node_type_names
            .get(usize::from(self.node_type(n)))
            .map_or("", String::as_str)
    }

    /// DevTools `isUserRoot` of JSHeapSnapshot: a non-synthetic node, or `(Document DOM trees)`.
    pub(crate) fn is_user_root(&self, n: u32) -> bool {
        let synthetic = self.node_type(n) == self.meta.node_types.synthetic;
        !synthetic || self.raw_name(n) == "(Document DOM trees)"
    }

    /// Whether the edge's `name_or_index` is a string index (not for element and hidden edges).
    #[inline]
    pub(crate) fn edge_has_string_name(&self, e: usize) -> bool {
        let t = self.edges.ty(e);
        t != self.meta.edge_types.element && t != self.meta.edge_types.hidden
    }

    /// DevTools `edge.name()`.
    pub(crate) fn edge_name(&self, e: usize) -> Cow<'_, str> {
        let raw = self.edges.name(e);
        if !self.edge_has_string_name(e) {
            return Cow::Owned(raw.to_string());
        }
        let name = self.strings.get(raw);
        if self.edges.ty(e) == self.meta.edge_types.shortcut
            && let Some(n) = jsstr::parse_int(name)
        {
            return Cow::Owned(jsstr::number_to_string(n));
        }
        Cow::Borrowed(name)
    }

    pub(crate) fn edge_type_name(&self, e: usize) -> &str {
        self.meta
            .edge_type_names
            .get(usize::from(self.edges.ty(e)))
            .map_or("", String::as_str)
    }

    /// The constructor location of node `n`, if listed.
    pub(crate) fn location(&self, n: u32) -> Option<Location> {
        self.locations.get(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::SnapshotParser;

    /// Three nodes; locations out of node order, node 1 listed twice (DevTools keeps the last).
    #[test]
    fn locations_are_sorted_by_node_and_the_last_listed_wins() {
        let document = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["hidden","object","synthetic"],"string","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"location_fields":["object_index","script_id","line","column"]},"node_count":3,"edge_count":2},
"nodes":[2,0,1,0,2,1,1,3,10,0,1,1,5,20,0],"edges":[2,1,5,2,1,10],
"locations":[10,7,1,1,5,7,2,2,5,7,3,3,6,9,9,9],"strings":["","a"]}"#;
        let mut parser = SnapshotParser::new();
        parser.feed(document.as_bytes()).expect("parses");
        let graph = Graph::new(parser.finish_raw().expect("valid"));
        let at = |script_id, line, column| {
            Some(Location {
                script_id,
                line,
                column,
            })
        };
        assert_eq!(graph.location(0), None);
        assert_eq!(graph.location(1), at(7, 3, 3), "the last of node 1's two");
        assert_eq!(graph.location(2), at(7, 1, 1));
        // Index 6 is no node's start: ignored.
        assert_eq!(graph.locations.len(), 2);
    }
}
