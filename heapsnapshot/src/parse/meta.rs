//! `snapshot.meta`: the layout of the `nodes` and `edges` arrays, read from the file (field
//! positions are never hard-coded).

use serde::Deserialize;

use crate::error::{Error, Result};

/// Marker for "this type does not exist in the snapshot" (DevTools' `indexOf` returning -1).
pub(crate) const NO_TYPE: u8 = u8::MAX;

/// What a position of a node record holds, for the parser to keep or drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeField {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Detachedness,
    Ignored,
}

/// What a position of an edge record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeField {
    Type,
    NameOrIndex,
    ToNode,
    Ignored,
}

/// Node type ids (positions in `node_types[type]`), [`NO_TYPE`] when absent.
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub(crate) struct NodeTypes {
    pub hidden: u8,
    pub array: u8,
    pub object: u8,
    pub native: u8,
    pub code: u8,
    pub synthetic: u8,
    pub closure: u8,
    pub regexp: u8,
}

/// Edge type ids (positions in `edge_types[type]`), [`NO_TYPE`] when absent.
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub(crate) struct EdgeTypes {
    pub element: u8,
    pub property: u8,
    pub internal: u8,
    pub hidden: u8,
    pub shortcut: u8,
    pub weak: u8,
    pub invisible: u8,
}

/// The parsed `snapshot` header.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub node_fields: Vec<NodeField>,
    pub edge_fields: Vec<EdgeField>,
    pub node_type_names: Vec<String>,
    pub edge_type_names: Vec<String>,
    pub node_types: NodeTypes,
    pub edge_types: EdgeTypes,
    pub has_detachedness: bool,
    /// Positions of `object_index`, `script_id`, `line`, `column` in a location record, and its length.
    pub location_fields: Option<([usize; 4], usize)>,
    pub node_count: Option<u64>,
    pub edge_count: Option<u64>,
    /// Node *index* (ordinal times field count) of the root, as `snapshot.root_index`.
    pub root_index: u64,
    pub extra_native_bytes: u64,
}

#[derive(Deserialize)]
struct RawHeader {
    meta: RawMeta,
    node_count: Option<u64>,
    edge_count: Option<u64>,
    root_index: Option<u64>,
    extra_native_bytes: Option<f64>,
}

#[derive(Deserialize)]
struct RawMeta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
    location_fields: Option<Vec<String>>,
}

fn position(fields: &[String], name: &str) -> Option<usize> {
    fields.iter().position(|f| f == name)
}

fn type_names(types: &[serde_json::Value], at: usize, what: &str) -> Result<Vec<String>> {
    let list = types
        .get(at)
        .and_then(|v| v.as_array())
        .ok_or_else(|| Error::meta(format!("{what}[{at}] (the type names) is not a list")))?;
    let names = list
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::meta(format!("{what}[{at}] holds a non-string")))
        })
        .collect::<Result<Vec<_>>>()?;
    if names.len() >= usize::from(NO_TYPE) {
        return Err(Error::meta(format!("{what} lists {} types", names.len())));
    }
    Ok(names)
}

fn type_id(names: &[String], name: &str) -> u8 {
    names
        .iter()
        .position(|n| n == name)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(NO_TYPE)
}

impl Meta {
    /// Parses the `snapshot` object's JSON text.
    pub(crate) fn parse(json: &[u8]) -> Result<Meta> {
        let raw: RawHeader = serde_json::from_slice(json)
            .map_err(|e| Error::meta(format!("cannot read the `snapshot` object: {e}")))?;
        let m = raw.meta;
        let required = |fields: &[String], name: &str, what: &str| {
            position(fields, name).ok_or_else(|| Error::meta(format!("{what} has no `{name}`")))
        };
        let node_type_at = required(&m.node_fields, "type", "node_fields")?;
        for name in ["name", "id", "self_size", "edge_count"] {
            required(&m.node_fields, name, "node_fields")?;
        }
        let edge_type_at = required(&m.edge_fields, "type", "edge_fields")?;
        for name in ["name_or_index", "to_node"] {
            required(&m.edge_fields, name, "edge_fields")?;
        }
        let node_fields = m
            .node_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => NodeField::Type,
                "name" => NodeField::Name,
                "id" => NodeField::Id,
                "self_size" => NodeField::SelfSize,
                "edge_count" => NodeField::EdgeCount,
                "detachedness" => NodeField::Detachedness,
                _ => NodeField::Ignored,
            })
            .collect::<Vec<_>>();
        let edge_fields = m
            .edge_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => EdgeField::Type,
                "name_or_index" => EdgeField::NameOrIndex,
                "to_node" => EdgeField::ToNode,
                _ => EdgeField::Ignored,
            })
            .collect::<Vec<_>>();
        let node_type_names = type_names(&m.node_types, node_type_at, "node_types")?;
        let mut edge_type_names = type_names(&m.edge_types, edge_type_at, "edge_types")?;
        // DevTools appends a type of its own that never occurs in files.
        edge_type_names.push("invisible".to_owned());
        let n = |name| type_id(&node_type_names, name);
        let node_types = NodeTypes {
            hidden: n("hidden"),
            array: n("array"),
            object: n("object"),
            native: n("native"),
            code: n("code"),
            synthetic: n("synthetic"),
            closure: n("closure"),
            regexp: n("regexp"),
        };
        let e = |name| type_id(&edge_type_names, name);
        let edge_types = EdgeTypes {
            element: e("element"),
            property: e("property"),
            internal: e("internal"),
            hidden: e("hidden"),
            shortcut: e("shortcut"),
            weak: e("weak"),
            invisible: e("invisible"),
        };
        let location_fields = match &m.location_fields {
            Some(fields) => {
                let mut at = [0usize; 4];
                for (slot, name) in
                    at.iter_mut()
                        .zip(["object_index", "script_id", "line", "column"])
                {
                    *slot = required(fields, name, "location_fields")?;
                }
                Some((at, fields.len()))
            }
            None => None,
        };
        let extra = raw.extra_native_bytes.unwrap_or(0.0);
        Ok(Meta {
            has_detachedness: node_fields.contains(&NodeField::Detachedness),
            node_fields,
            edge_fields,
            node_type_names,
            edge_type_names,
            node_types,
            edge_types,
            location_fields,
            node_count: raw.node_count,
            edge_count: raw.edge_count,
            root_index: raw.root_index.unwrap_or(0),
            extra_native_bytes: if extra.is_finite() && extra > 0.0 {
                extra as u64
            } else {
                0
            },
        })
    }
}
