//! Checks of the parsed arrays: counts agree with the header, every reference is in range.

use super::RawSnapshot;
use super::columns::LargestReferences;
use crate::error::{Error, Result};

/// Checks counts and references, so the analysis can index without bounds surprises. `largest`:
/// the largest references the parse stored; the arrays are searched only when one is out of
/// range, for the error message.
pub(crate) fn validate(mut raw: RawSnapshot, largest: LargestReferences) -> Result<RawSnapshot> {
    let node_count = raw.nodes.len();
    let n = &raw.nodes;
    if n.names.len() != node_count
        || n.ids.len() != node_count
        || n.self_sizes.len() != node_count
        || n.first_edge.len() != node_count
    {
        return Err(Error::inconsistent("node columns of different lengths"));
    }
    if node_count == 0 {
        return Err(Error::inconsistent("the snapshot has no nodes"));
    }
    if u32::try_from(node_count).is_err() || node_count as u64 >= u64::from(u32::MAX) - 1 {
        return Err(Error::TooLarge {
            what: "nodes",
            count: node_count as u64,
        });
    }
    if let Some(expected) = raw.meta.node_count
        && expected != node_count as u64
    {
        return Err(Error::inconsistent(format!(
            "snapshot.node_count is {expected} but the nodes array holds {node_count} nodes"
        )));
    }
    let edge_count = raw.edges.len();
    if raw.edges.to.len() != edge_count {
        return Err(Error::inconsistent("edge columns of different lengths"));
    }
    if let Some(expected) = raw.meta.edge_count
        && expected != edge_count as u64
    {
        return Err(Error::inconsistent(format!(
            "snapshot.edge_count is {expected} but the edges array holds {edge_count} edges"
        )));
    }
    raw.nodes.index_edges(edge_count)?;
    let string_count = raw.strings.len() as u64;
    if u64::from(largest.node_name) >= string_count
        && let Some((ordinal, &name)) = raw
            .nodes
            .names
            .iter()
            .enumerate()
            .find(|&(_, &name)| u64::from(name) >= string_count)
    {
        return Err(Error::inconsistent(format!(
            "node #{ordinal} names string {name} but there are {string_count} strings"
        )));
    }
    let element = raw.meta.edge_types.element;
    let hidden = raw.meta.edge_types.hidden;
    let edges_in_range = (largest.edge_to as usize) < node_count
        && u64::from(largest.edge_string_name) < string_count;
    let edges_to_search = if edges_in_range { 0 } else { edge_count };
    for (ordinal, &to) in raw.edges.to[..edges_to_search].iter().enumerate() {
        let (t, name) = (raw.edges.ty(ordinal), raw.edges.name(ordinal));
        if to as usize >= node_count {
            return Err(Error::inconsistent(format!(
                "edge #{ordinal} points to node #{to} but there are {node_count} nodes"
            )));
        }
        if t != element && t != hidden && u64::from(name) >= string_count {
            return Err(Error::inconsistent(format!(
                "edge #{ordinal} names string {name} but there are {string_count} strings"
            )));
        }
    }
    let field_count = raw.meta.node_fields.len() as u64;
    let root = raw.meta.root_index;
    if root % field_count != 0 || root / field_count >= node_count as u64 {
        return Err(Error::inconsistent(format!(
            "snapshot.root_index {root} is not a node"
        )));
    }
    let root_ordinal = root / field_count;
    if root_ordinal != 0 && root_ordinal != node_count as u64 - 1 {
        return Err(Error::inconsistent(
            "the root node is neither the first nor the last node (DevTools requires one of them)",
        ));
    }
    if let Some((_, len)) = raw.meta.location_fields
        && raw.locations.len() % len != 0
    {
        return Err(Error::inconsistent(format!(
            "the locations array length {} is not a multiple of its {len} fields",
            raw.locations.len()
        )));
    }
    Ok(raw)
}
