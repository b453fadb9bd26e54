//! The parse with integers read ahead (`feed_prescanned`) gives exactly what the plain parse
//! gives, wherever the chunks split the document.

use super::numbers::{Prescanned, prescan};
use super::{RawSnapshot, SnapshotParser};

/// The `snapshot` header without its counts and closing brace.
const META_FIELDS: &str = r#"{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["hidden","object","synthetic"],"string","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"location_fields":["object_index","script_id","line","column"]}"#;

/// A chain of `count` objects (a self size above 4 GiB among them, which DevTools wraps), with
/// locations and samples, in V8's layout: one record per line.
fn document(count: usize) -> String {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..count {
        let size: u64 = if i == count / 2 {
            5_000_000_000
        } else {
            (i as u64 * 7919) % 100_000
        };
        let edge_count = usize::from(i + 1 < count);
        nodes.push(format!(
            "{},1,{},{size},{edge_count}",
            if i == 0 { 2 } else { 1 },
            2 * i + 1
        ));
        if i + 1 < count {
            edges.push(format!("2,1,{}", (i + 1) * 5));
        }
    }
    let meta = format!(
        r#"{META_FIELDS},"node_count":{count},"edge_count":{}}}"#,
        edges.len()
    );
    format!(
        r#"{{"snapshot":{meta},"nodes":[{}],"edges":[{}],"samples":[1,2,3],"locations":[5,1,2,3,10,1,4,5],"strings":["","a"]}}"#,
        nodes.join("\n,"),
        edges.join("\n,"),
    )
}

/// Every column of a parsed snapshot, to compare two parses.
fn columns(raw: &RawSnapshot) -> Vec<Vec<u64>> {
    let n = &raw.nodes;
    let widen = |v: &[u32]| v.iter().map(|&x| u64::from(x)).collect::<Vec<_>>();
    let edges = (0..raw.edges.len())
        .flat_map(|e| {
            [
                u64::from(raw.edges.ty(e)),
                u64::from(raw.edges.name(e)),
                u64::from(raw.edges.to[e]),
            ]
        })
        .collect();
    vec![
        n.types.iter().map(|&t| u64::from(t)).collect(),
        widen(&n.names),
        widen(&n.ids.iter().collect::<Vec<_>>()),
        widen(&n.self_sizes),
        widen(&n.first_edge),
        edges,
        widen(&raw.locations),
    ]
}

fn parse(doc: &[u8], chunk: usize, read_ahead: bool) -> RawSnapshot {
    let mut parser = SnapshotParser::new();
    let mut prescanned = Prescanned::default();
    for part in doc.chunks(chunk) {
        if read_ahead {
            prescan(part, &mut prescanned);
            parser.feed_prescanned(part, &prescanned)
        } else {
            parser.feed(part)
        }
        .expect("parses");
    }
    assert_eq!(parser.bytes_fed(), doc.len() as u64);
    parser.finish_raw().expect("valid")
}

#[test]
fn integers_read_ahead_give_the_plain_parse_at_any_chunk_size() {
    let doc = document(3000);
    let plain = columns(&parse(doc.as_bytes(), doc.len(), false));
    assert_eq!(
        plain[3][1500],
        5_000_000_000 % (1 << 32),
        "the large size is wrapped"
    );
    for chunk in [1, 2, 3, 5, 8, 13, 31, 64, 100, 257, 1000, 4096, 65536] {
        let ahead = columns(&parse(doc.as_bytes(), chunk, true));
        assert_eq!(ahead, plain, "chunks of {chunk} bytes");
    }
}

#[test]
fn read_ahead_is_used_inside_arrays_and_refused_elsewhere() {
    let mut prescanned = Prescanned::default();
    prescan(b"12,34,\n56,7", &mut prescanned);
    assert_eq!(prescanned.range, 3..10);
    assert_eq!(prescanned.values, [34, 56]);
    prescan(b"1,2,3],\"strings\":[\"a\",", &mut prescanned);
    assert!(
        prescanned.range.is_empty(),
        "an array end is left to the parse"
    );
    prescan(b"1,99999999999,3,", &mut prescanned);
    assert!(
        prescanned.range.is_empty(),
        "values above 32 bits are left to the parse"
    );
    prescan(b"12345", &mut prescanned);
    assert!(
        prescanned.range.is_empty(),
        "no separator, nothing to read ahead"
    );
}
