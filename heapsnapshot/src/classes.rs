//! Class names as DevTools' Summary view shows them: `calculateObjectNames` (constructor name for
//! objects, `(system)`, `(compiled code)`, `Function`, `RegExp`, `(string)`, `(array)`...), then
//! plain `Object`s renamed after inferred interfaces such as `{x, y}` (`inferInterfaceDefinitions`
//! and `applyInterfaceDefinitions`).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::class_column::ClassColumnBuilder;
use crate::graph::Graph;
use crate::jsstr::{cmp_utf16, format_property_name, utf16_len};

/// After this many properties an interface name may stop growing.
const MIN_INTERFACE_PROPERTY_COUNT: usize = 1;
/// Longest interface name (UTF-16 units), unless the first property alone is longer.
const MAX_INTERFACE_NAME_LENGTH: usize = 120;
/// An interface must match at least this many objects...
const MIN_OBJECT_COUNT_PER_INTERFACE: f64 = 2.0;
/// ...and one in this many plain objects.
const MIN_OBJECT_PROPORTION_PER_INTERFACE: f64 = 1000.0;

/// An inferred shape of plain objects, e.g. `{x, y}` with properties `x` and `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterfaceDefinition {
    pub name: String,
    pub properties: Vec<String>,
}

/// Class names of every node, and the strings they add to the snapshot's string table.
#[derive(Debug)]
pub(crate) struct ObjectNames {
    /// The class name string index of every node.
    pub classes: ClassColumnBuilder,
    /// Strings DevTools adds to the table, in order: the first gets the table's length as its
    /// index, the next one more, and so on.
    pub added: Vec<String>,
}

/// `calculateObjectNames`: the class name string index of every node. The names DevTools adds
/// to the string table are returned, not added, so that this can run while other threads
/// read the graph.
pub(crate) fn object_names(graph: &Graph) -> ObjectNames {
    let base = graph.strings.len() as u32;
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut added: Vec<String> = Vec::new();
    let mut get = |s: &str| -> u32 {
        if let Some(&i) = index.get(s) {
            return i;
        }
        let i = base + added.len() as u32;
        added.push(s.to_owned());
        index.insert(s.to_owned(), i);
        i
    };
    let t = graph.meta.node_types;
    let hidden = get("(system)");
    let code = get("(compiled code)");
    let function = get("Function");
    let regexp = get("RegExp");
    let mut by_type: [Option<u32>; 256] = [None; 256];
    let count = graph.node_count();
    let mut classes = ClassColumnBuilder::with_capacity(count);
    for n in 0..count as u32 {
        let ty = graph.node_type(n);
        let class = if ty == t.hidden {
            hidden
        } else if ty == t.object || ty == t.native {
            let name = graph.raw_name(n);
            if name.starts_with('<') {
                let short = match name.find(' ') {
                    Some(space) => format!("{}>", &name[..space]),
                    None => name.to_owned(),
                };
                get(&short)
            } else if let Some(rest) = name.strip_prefix("Detached <") {
                let short = match rest.find(' ') {
                    Some(space) => format!("{}>", &name[..name.len() - rest.len() + space]),
                    None => name.to_owned(),
                };
                get(&short)
            } else {
                graph.nodes.names[n as usize]
            }
        } else if ty == t.code {
            code
        } else if ty == t.closure {
            function
        } else if ty == t.regexp {
            regexp
        } else {
            match by_type[usize::from(ty)] {
                Some(i) => i,
                None => {
                    let name = format!("({})", graph.type_name(n));
                    let i = get(&name);
                    by_type[usize::from(ty)] = Some(i);
                    i
                }
            }
        };
        classes.push(class);
    }
    ObjectNames { classes, added }
}

fn is_plain_object(graph: &Graph, n: u32) -> bool {
    graph.node_type(n) == graph.meta.node_types.object && graph.raw_name(n) == "Object"
}

/// `inferInterfaceDefinitions`.
pub(crate) fn infer_interfaces(graph: &Graph) -> Vec<InterfaceDefinition> {
    struct Candidate {
        name: String,
        properties: Vec<String>,
        count: u64,
    }
    let property = graph.meta.edge_types.property;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut total: u64 = 0;
    let mut name = String::new();
    let mut properties: Vec<String> = Vec::new();
    for n in 0..graph.node_count() as u32 {
        if !is_plain_object(graph, n) {
            continue;
        }
        total += 1;
        name.clear();
        name.push('{');
        let mut name_len = 1usize;
        properties.clear();
        for e in graph.edges_of(n) {
            if graph.edges.ty(e) != property {
                continue;
            }
            let edge_name = graph.strings.get(graph.edges.name(e));
            if edge_name == "__proto__" {
                continue;
            }
            let formatted = format_property_name(edge_name);
            let formatted_len = utf16_len(&formatted);
            if name_len > MIN_INTERFACE_PROPERTY_COUNT
                && name_len + formatted_len > MAX_INTERFACE_NAME_LENGTH
            {
                break;
            }
            if name_len != 1 {
                name.push_str(", ");
                name_len += 2;
            }
            name.push_str(&formatted);
            name_len += formatted_len;
            properties.push(edge_name.to_owned());
        }
        if properties.is_empty() {
            continue;
        }
        name.push('}');
        match by_name.get(name.as_str()) {
            Some(&i) => candidates[i].count += 1,
            None => {
                by_name.insert(name.clone(), candidates.len());
                candidates.push(Candidate {
                    name: name.clone(),
                    properties: std::mem::take(&mut properties),
                    count: 1,
                });
            }
        }
    }
    // Stable, like Array.prototype.sort.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.count));
    let min_count =
        MIN_OBJECT_COUNT_PER_INTERFACE.max(total as f64 / MIN_OBJECT_PROPORTION_PER_INTERFACE);
    candidates
        .into_iter()
        .take_while(|c| c.count as f64 >= min_count)
        .map(|c| InterfaceDefinition {
            name: c.name,
            properties: c.properties,
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct MatchInfo {
    property_count: usize,
    index: usize,
}

fn better(a: MatchInfo, b: Option<MatchInfo>) -> MatchInfo {
    let Some(b) = b else { return a };
    match a.property_count.cmp(&b.property_count) {
        Ordering::Greater => a,
        Ordering::Less => b,
        Ordering::Equal => {
            if a.index <= b.index {
                a
            } else {
                b
            }
        }
    }
}

#[derive(Debug, Default)]
struct TrieNode {
    next: HashMap<String, u32>,
    match_info: Option<MatchInfo>,
    greatest_next: Option<String>,
}

/// The property tree of `applyInterfaceDefinitions`.
struct Trie {
    nodes: Vec<TrieNode>,
}

impl Trie {
    fn new(definitions: &[InterfaceDefinition]) -> Trie {
        let mut nodes = vec![TrieNode::default()];
        for (index, definition) in definitions.iter().enumerate() {
            let mut properties = definition.properties.clone();
            properties.sort_by(|a, b| cmp_utf16(a, b));
            let mut current = 0usize;
            for property in &properties {
                let next = match nodes[current].next.get(property.as_str()) {
                    Some(&next) => next as usize,
                    None => {
                        let next = nodes.len();
                        nodes.push(TrieNode::default());
                        let node = &mut nodes[current];
                        node.next.insert(property.clone(), next as u32);
                        let greater = match &node.greatest_next {
                            None => true,
                            Some(g) => cmp_utf16(g, property) == Ordering::Less,
                        };
                        if greater {
                            node.greatest_next = Some(property.clone());
                        }
                        next
                    }
                };
                current = next;
            }
            if nodes[current].match_info.is_none() {
                nodes[current].match_info = Some(MatchInfo {
                    property_count: properties.len(),
                    index,
                });
            }
        }
        Trie { nodes }
    }
}

/// `applyInterfaceDefinitions`: calls `on_match(node, definition index)` for every plain object
/// that matches a definition (the others keep the class `Object`).
pub(crate) fn match_interfaces(
    graph: &Graph,
    definitions: &[InterfaceDefinition],
    mut on_match: impl FnMut(u32, usize),
) {
    if definitions.is_empty() {
        return;
    }
    let trie = Trie::new(definitions);
    let property = graph.meta.edge_types.property;
    let initial = MatchInfo {
        property_count: 0,
        index: usize::MAX,
    };
    let mut properties: Vec<&str> = Vec::new();
    let mut states: Vec<u32> = Vec::new();
    let mut snapshot: Vec<u32> = Vec::new();
    for n in 0..graph.node_count() as u32 {
        if !is_plain_object(graph, n) {
            continue;
        }
        properties.clear();
        for e in graph.edges_of(n) {
            if graph.edges.ty(e) == property {
                properties.push(graph.strings.get(graph.edges.name(e)));
            }
        }
        properties.sort_by(|a, b| cmp_utf16(a, b));
        states.clear();
        states.push(0);
        let mut best = better(initial, trie.nodes[0].match_info);
        for &p in &properties {
            snapshot.clear();
            snapshot.extend_from_slice(&states);
            for &state in &snapshot {
                let node = &trie.nodes[state as usize];
                let exhausted = match &node.greatest_next {
                    None => true,
                    Some(g) => cmp_utf16(p, g) != Ordering::Less,
                };
                if exhausted && let Some(at) = states.iter().position(|&s| s == state) {
                    states.remove(at);
                }
                if let Some(&next) = node.next.get(p) {
                    if !states.contains(&next) {
                        states.push(next);
                    }
                    best = better(best, trie.nodes[next as usize].match_info);
                }
            }
        }
        if best.index != usize::MAX {
            on_match(n, best.index);
        }
    }
}
