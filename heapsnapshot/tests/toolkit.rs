//! The numbers must equal Chrome DevTools' (heap-snapshot-toolkit 1.1.3, run by
//! `tests/toolkit/summary.js` and `diff.js`) to the byte.

mod common;

use openprofiling_heapsnapshot::{HeapSnapshot, diff};
use serde_json::Value;

/// Classes keyed by (name, location), for an order-independent comparison.
fn by_class(classes: &Value) -> std::collections::BTreeMap<String, Value> {
    classes
        .as_array()
        .expect("classes is a list")
        .iter()
        .map(|c| {
            let key = format!(
                "{} @ {}",
                c["name"],
                c.get("location").unwrap_or(&Value::Null)
            );
            (key, c.clone())
        })
        .collect()
}

fn assert_same_classes(ours: &Value, theirs: &Value) {
    let ours = by_class(ours);
    let theirs = by_class(theirs);
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "classes only we list: {only_ours:?}; only DevTools lists: {only_theirs:?}"
    );
    let mut mismatches = Vec::new();
    for (key, ours) in &ours {
        if ours != &theirs[key] {
            mismatches.push(format!("{key}: ours {ours} DevTools {}", theirs[key]));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} classes differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn assert_summary_matches(path: &std::path::Path) {
    let snapshot = HeapSnapshot::from_path(path).expect("parses");
    let ours = serde_json::to_value(snapshot.summary()).expect("serializes");
    let theirs = common::toolkit("summary.js", &[path]);
    assert_eq!(ours["total_size"], theirs["total_size"], "statistics.total");
    assert_eq!(ours["node_count"], theirs["node_count"], "node count");
    assert!(
        ours["classes"].as_array().expect("list").len() > 50,
        "a real heap has many classes"
    );
    assert_same_classes(&ours["classes"], &theirs["classes"]);
}

#[test]
fn summary_equals_devtools_on_a_mixed_heap() {
    // Objects, plain-object shapes (interface names), closures, cons/sliced strings, WeakMaps,
    // typed arrays, symbols, bigints, a cycle held only weakly.
    assert_summary_matches(&common::mixed_snapshot(1.0));
}

#[test]
fn summary_equals_devtools_on_the_leaky_program() {
    assert_summary_matches(&common::leaky_snapshot(1234));
}

#[test]
fn diff_equals_devtools_comparison_view() {
    let dir = common::workdir();
    let before_path = dir.join("cmp-before.heapsnapshot");
    let after_path = dir.join("cmp-after.heapsnapshot");
    common::run_node(
        r#"
        const v8 = require('node:v8');
        class Kept { constructor(i) { this.i = i; } }
        class Dropped { constructor(i) { this.i = i; } }
        globalThis.kept = Array.from({ length: 3000 }, (_, i) => new Kept(i));
        globalThis.dropped = Array.from({ length: 1500 }, (_, i) => new Dropped(i));
        globalThis.shapes = Array.from({ length: 2000 }, (_, i) => ({ x: i, y: -i }));
        v8.writeHeapSnapshot(process.argv[1]);
        globalThis.dropped = globalThis.dropped.slice(0, 500);
        globalThis.kept.push(...Array.from({ length: 700 }, (_, i) => new Kept(i)));
        globalThis.shapes.push(...Array.from({ length: 900 }, (_, i) => ({ x: i, z: i })));
        v8.writeHeapSnapshot(process.argv[2]);
        "#,
        &[
            before_path.to_str().expect("utf-8"),
            after_path.to_str().expect("utf-8"),
        ],
    );
    let before = HeapSnapshot::from_path(&before_path).expect("parses");
    let after = HeapSnapshot::from_path(&after_path).expect("parses");
    let ours = serde_json::to_value(diff(&before, &after)).expect("serializes");
    let theirs = common::toolkit("diff.js", &[&before_path, &after_path]);
    assert_same_classes(&ours["classes"], &theirs["classes"]);
    let dropped = ours["classes"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["name"] == "Dropped")
        .expect("Dropped changed");
    assert_eq!(dropped["removed"], 1000);
    assert_eq!(dropped["added"], 0);
}
