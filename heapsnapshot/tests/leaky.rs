//! A real Node program holding 1,234 `LeakyClass` objects in `globalThis.leak`.

mod common;

use openprofiling_heapsnapshot::{HeapSnapshot, diff};

const COUNT: usize = 1234;

fn snapshot() -> HeapSnapshot {
    HeapSnapshot::from_path(common::leaky_snapshot(COUNT)).expect("the snapshot parses")
}

#[test]
fn counts_every_instance_exactly() {
    let snapshot = snapshot();
    let summary = snapshot.summary();
    let leaky: Vec<_> = summary
        .classes
        .iter()
        .filter(|c| c.name == "LeakyClass")
        .collect();
    assert_eq!(leaky.len(), 1, "one LeakyClass row: {leaky:?}");
    let class = leaky[0];
    assert_eq!(class.count, COUNT as u64);
    assert!(
        class.location.is_some(),
        "objects carry their constructor's location"
    );
    // Each instance retains at least itself; the class retains its payload strings too.
    assert!(class.retained_size > class.self_size, "{class:?}");
    assert_eq!(snapshot.find_class("LeakyClass").len(), COUNT);
    assert!(
        summary.total_size > 1_000_000,
        "a Node heap is megabytes: {}",
        summary.total_size
    );
    assert_eq!(summary.node_count, snapshot.node_count());
    // Sorted by retained size.
    assert!(
        summary
            .classes
            .windows(2)
            .all(|w| w[0].retained_size >= w[1].retained_size)
    );
}

#[test]
fn retainer_path_goes_from_the_global_object_through_leak() {
    let snapshot = snapshot();
    let objects = snapshot.find_class("LeakyClass");
    let target = objects[COUNT / 2];
    let paths = snapshot.retainer_paths(target, 3);
    assert!(!paths.is_empty(), "a retained object has a retainer path");
    let shortest = &paths[0];
    let rendered = shortest.to_string();
    assert_eq!(shortest.nodes.len(), shortest.edges.len() + 1);
    assert_eq!(
        shortest.nodes.last().expect("target").id,
        snapshot.node(target).id
    );
    assert_eq!(
        shortest.nodes.last().expect("target").class_name,
        "LeakyClass"
    );
    // global --.leak--> Array --elements--> (object elements) --[i]--> LeakyClass
    let first = &shortest.nodes[0];
    assert_eq!(
        first.name, "global",
        "starts at the global object: {rendered}"
    );
    assert_eq!(shortest.edges[0].edge_type, "property", "{rendered}");
    assert_eq!(shortest.edges[0].name, "leak", "{rendered}");
    assert_eq!(shortest.nodes[1].class_name, "Array", "{rendered}");
    let last_edge = shortest.edges.last().expect("edges");
    assert_eq!(last_edge.edge_type, "element", "{rendered}");
    assert_eq!(last_edge.label, format!("[{}]", COUNT / 2), "{rendered}");
    // Shortest first.
    assert!(
        paths
            .windows(2)
            .all(|w| w[0].edges.len() <= w[1].edges.len())
    );
    // No path repeats a node.
    for path in &paths {
        let mut ids: Vec<u32> = path.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), path.nodes.len(), "{path}");
    }
}

#[test]
fn node_by_id_finds_the_same_node() {
    let snapshot = snapshot();
    let node = snapshot.find_class("LeakyClass")[7];
    let info = snapshot.node(node);
    assert_eq!(snapshot.node_by_id(info.id), Some(node));
    assert_eq!(info.node_type, "object");
    assert_eq!(info.name, "LeakyClass");
    assert!(snapshot.node_by_id(u32::MAX).is_none());
    // The array holding the objects dominates each of them (its only retainer besides its
    // elements store, which the array owns).
    let dominator = snapshot
        .dominator(node)
        .expect("a retained object has a dominator");
    assert!(snapshot.retained_size(dominator) > snapshot.retained_size(node));
    assert_eq!(snapshot.dominator(snapshot.root()), Some(snapshot.root()));
}

#[test]
fn diff_finds_exactly_the_added_objects() {
    let dir = common::workdir();
    let a = dir.join("grow-a.heapsnapshot");
    let b = dir.join("grow-b.heapsnapshot");
    common::run_node(
        r#"
        const v8 = require('node:v8');
        class Grower { constructor(i) { this.i = i; } }
        globalThis.held = Array.from({ length: 5000 }, (_, i) => new Grower(i));
        v8.writeHeapSnapshot(process.argv[1]);
        for (let i = 0; i < 20000; i++) globalThis.held.push(new Grower(i));
        v8.writeHeapSnapshot(process.argv[2]);
        "#,
        &[a.to_str().expect("utf-8"), b.to_str().expect("utf-8")],
    );
    let before = HeapSnapshot::from_path(&a).expect("parses");
    let after = HeapSnapshot::from_path(&b).expect("parses");
    let d = diff(&before, &after);
    let grower = d
        .classes
        .iter()
        .find(|c| c.name == "Grower")
        .expect("Grower changed");
    assert_eq!(grower.added, 20_000);
    assert_eq!(grower.removed, 0);
    assert_eq!(grower.count_delta, 20_000);
    assert_eq!(grower.size_delta, grower.added_size as i64);
    assert!(grower.added_size >= 20_000 * 16, "{grower:?}");
    assert_eq!(
        d.classes[0].name,
        "Grower",
        "the largest change comes first: {:?}",
        &d.classes[..3]
    );
    assert!(d.after_total_size > d.before_total_size);
    // A snapshot compared with itself has no changes.
    assert!(diff(&after, &after).classes.is_empty());
}
