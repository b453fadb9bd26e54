//! What the Summary and Comparison views group nodes by: class names, inferred interfaces and
//! the class aggregates. Computed from the graph alone (no dominator tree), so the analysis runs
//! it on a second thread while the dominator tree is computed.

use std::collections::HashMap;

use crate::aggregates::{self, Aggregates};
use crate::class_column::ClassColumn;
use crate::classes::{self, InterfaceDefinition, ObjectNames};
use crate::graph::Graph;

/// Every node's class, and the classes' aggregates (retained sizes not yet added).
#[derive(Debug)]
pub(crate) struct Classified {
    /// Class name string index per node.
    pub classes: ClassColumn,
    pub interfaces: Vec<InterfaceDefinition>,
    /// Interface name -> string index (DevTools' `#interfaceNames`).
    pub interface_names: HashMap<String, u32>,
    /// Strings DevTools adds to the string table, to append in this order (the first one's
    /// index is the table's length when [`classify`] ran).
    pub added: Vec<String>,
    pub aggregates: Aggregates,
}

/// DevTools' `calculateObjectNames`, `inferInterfaceDefinitions`, `applyInterfaceDefinitions`
/// and `buildAggregates`, reading `graph` only.
pub(crate) fn classify(graph: &Graph) -> Classified {
    let base = graph.strings.len() as u32;
    let ObjectNames {
        mut classes,
        mut added,
    } = classes::object_names(graph);
    let interfaces = classes::infer_interfaces(graph);
    let mut matches: Vec<(u32, u32)> = Vec::new();
    classes::match_interfaces(graph, &interfaces, |n, d| matches.push((n, d as u32)));
    let mut interface_names: HashMap<String, u32> = HashMap::new();
    for (n, d) in matches {
        let name = &interfaces[d as usize].name;
        let index = match interface_names.get(name) {
            Some(&i) => i,
            None => {
                let i = base + added.len() as u32;
                added.push(name.clone());
                interface_names.insert(name.clone(), i);
                i
            }
        };
        classes.set(n as usize, index);
    }
    let classes = classes.finish();
    let aggregates = aggregates::build(graph, &|n| classes.get(n), &|i| {
        graph.strings.get_or_extra(&added, i)
    });
    Classified {
        classes,
        interfaces,
        interface_names,
        added,
        aggregates,
    }
}
