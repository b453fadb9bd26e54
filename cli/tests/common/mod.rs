//! What the `openprofiling` command tests share: running it, reading its output and the
//! snapshots it writes.
// Each test binary uses a part of this module.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `openprofiling ARGS` in `cwd` to its end.
pub fn openprofiling(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openprofiling"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The files in `dir` ending in `.extension`, sorted.
pub fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == extension));
    files.sort();
    files
}

/// How many objects of `class` the snapshot file holds (a full JSON parse: small files only).
pub fn count_objects(path: &Path, class: &str) -> usize {
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let meta = &snapshot["snapshot"]["meta"];
    let fields = meta["node_fields"].as_array().unwrap();
    let width = fields.len();
    let type_at = fields.iter().position(|f| f == "type").unwrap();
    let name_at = fields.iter().position(|f| f == "name").unwrap();
    let object_type = meta["node_types"][0]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t == "object")
        .unwrap() as u64;
    let strings = snapshot["strings"].as_array().unwrap();
    let nodes = snapshot["nodes"].as_array().unwrap();
    nodes
        .chunks(width)
        .filter(|node| {
            node[type_at].as_u64() == Some(object_type)
                && strings[node[name_at].as_u64().unwrap() as usize] == class
        })
        .count()
}
