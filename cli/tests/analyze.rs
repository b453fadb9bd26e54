//! `openprofiling analyze` on snapshots written by a real Node process.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{openprofiling, text};

/// Two snapshots of one process, `b` taken after it made `added` more `Leak` objects, held
/// from `globalThis.leaks`.
fn snapshots(dir: &Path, before: usize, added: usize) -> (PathBuf, PathBuf) {
    let script = format!(
        "const v8 = require('v8');
         class Leak {{ constructor(i) {{ this.i = i; }} }}
         globalThis.leaks = [];
         for (let i = 0; i < {before}; i++) globalThis.leaks.push(new Leak(i));
         v8.writeHeapSnapshot('a.heapsnapshot');
         for (let i = 0; i < {added}; i++) globalThis.leaks.push(new Leak(i));
         v8.writeHeapSnapshot('b.heapsnapshot');"
    );
    let status = Command::new("node")
        .args(["-e", &script])
        .current_dir(dir)
        .status()
        .expect("node is on the PATH");
    assert!(status.success());
    (dir.join("a.heapsnapshot"), dir.join("b.heapsnapshot"))
}

#[test]
fn summary_diff_and_retainers_of_real_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = snapshots(dir.path(), 1_000, 20_000);
    let a = a.to_str().unwrap();
    let b = b.to_str().unwrap();

    // Summary, as JSON in the documented shape.
    let output = openprofiling(
        &["analyze", "summary", b, "--json", "--top", "0"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(summary["total_size"].as_u64().unwrap() > 0);
    assert!(summary["node_count"].as_u64().unwrap() > 21_000);
    let leak = summary["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|class| class["name"] == "Leak")
        .expect("the Leak class");
    assert_eq!(leak["count"], 21_000);
    assert!(leak["retained_size"].as_u64() >= leak["self_size"].as_u64());

    // Diff: exactly the added objects, on top.
    let output = openprofiling(
        &["analyze", "diff", a, b, "--json", "--top", "3"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let diff: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let classes = diff["classes"].as_array().unwrap();
    assert!(classes.len() <= 3);
    let leak = classes
        .iter()
        .find(|class| class["name"] == "Leak")
        .expect("Leak changed");
    assert_eq!(
        (leak["added"].as_u64(), leak["removed"].as_u64()),
        (Some(20_000), Some(0))
    );
    assert_eq!(leak["count_delta"], 20_000);
    assert!(leak["size_delta"].as_i64().unwrap() > 0);

    // Text diff: a table with Leak in it.
    let output = openprofiling(&["analyze", "diff", a, b], dir.path());
    let table = text(&output.stdout);
    assert!(
        table
            .lines()
            .any(|line| line.ends_with("  Leak") && line.contains("+20000")),
        "{table}"
    );

    // Retainers: from a GC root through `leaks` and the array to a Leak.
    let output = openprofiling(
        &["analyze", "retainers", b, "--class", "Leak", "--paths", "2"],
        dir.path(),
    );
    let paths = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(paths.contains(".leaks → Array"), "{paths}");
    assert!(
        paths.lines().nth(1).is_some_and(|line| line
            .trim_end()
            .ends_with(&format!("@{}", line.rsplit('@').next().unwrap()))),
        "{paths}"
    );
}

#[test]
fn gzip_input_and_bad_files_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = snapshots(dir.path(), 10, 0);
    let gz = dir.path().join("a.heapsnapshot.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&std::fs::read(&a).unwrap()).unwrap();
    encoder.finish().unwrap();
    let plain = openprofiling(
        &["analyze", "summary", a.to_str().unwrap(), "--json"],
        dir.path(),
    );
    let gzipped = openprofiling(
        &["analyze", "summary", gz.to_str().unwrap(), "--json"],
        dir.path(),
    );
    assert!(gzipped.status.success(), "{}", text(&gzipped.stderr));
    assert_eq!(plain.stdout, gzipped.stdout, "gzip gives the same result");

    let truncated = dir.path().join("truncated.heapsnapshot");
    let bytes = std::fs::read(&a).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = openprofiling(
        &["analyze", "summary", "truncated.heapsnapshot"],
        dir.path(),
    );
    assert!(!output.status.success());
    let error = text(&output.stderr);
    assert!(
        error.starts_with("error: cannot analyse truncated.heapsnapshot"),
        "{error}"
    );
    assert!(!error.contains("panicked"), "{error}");

    let output = openprofiling(
        &[
            "analyze",
            "retainers",
            a.to_str().unwrap(),
            "--class",
            "NoSuchClass",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no object of class \"NoSuchClass\""));
}
