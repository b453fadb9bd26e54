//! The `openprofiling` command as an operator runs it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn openprofiling(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openprofiling"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The snapshot files in `dir`, sorted.
fn snapshots(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == "heapsnapshot"));
    files.sort();
    files
}

/// How many objects named `class` the snapshot holds.
fn count_objects(path: &Path, class: &str) -> usize {
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

#[test]
fn snapshot_of_a_spawned_command_lands_in_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let program = "class Widget {}; globalThis.kept = Array.from({length: 777}, () => new Widget()); setInterval(() => {}, 1000);";
    let output = openprofiling(
        &["snapshot", "--to", "out", "--", "node", "-e", program],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&output.stderr)
    );
    let files = snapshots(&dir.path().join("out"));
    assert_eq!(files.len(), 1, "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "one line per destination: {stdout}"
    );
    assert!(stdout.contains(&files[0].display().to_string()), "{stdout}");
    assert!(stdout.contains(" MB)"), "the size is given: {stdout}");
    assert_eq!(count_objects(&files[0], "Widget"), 777);
}

#[test]
fn several_destinations_each_get_their_line_and_a_bad_one_fails_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let output = openprofiling(
        &[
            "snapshot",
            "--to",
            "a",
            "--to",
            "not-a-dir",
            "--to",
            "b",
            "--",
            "node",
            "-e",
            "setInterval(() => {}, 1000)",
        ],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "one destination failed: {stdout}");
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("saved heap snapshot"), "{stdout}");
    assert!(lines[1].contains("not a directory"), "{stdout}");
    assert!(lines[2].starts_with("saved heap snapshot"), "{stdout}");
    assert_eq!(snapshots(&dir.path().join("a")).len(), 1);
    assert_eq!(snapshots(&dir.path().join("b")).len(), 1);
}

#[test]
fn errors_are_one_clear_sentence_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let output = openprofiling(&["snapshot", "--inspect", "127.0.0.1:1"], dir.path());
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot query the inspector at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("--inspect"), "says what to do: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = openprofiling(&["snapshot", "--inspect", "10.0.0.1:9229"], dir.path());
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("--allow-remote"));

    let output = openprofiling(&["snapshot"], dir.path());
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no target given"));
    assert!(
        !dir.path().join("profiles").exists(),
        "nothing written on failure"
    );
}

#[test]
fn a_pid_that_is_not_node_is_never_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let output = openprofiling(&["snapshot", "--pid", &pid], dir.path());
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("is not a Node.js process"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the sleep process survives"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn demo_takes_two_snapshots_of_a_growing_leak() {
    let dir = tempfile::tempdir().unwrap();
    let output = openprofiling(&["demo", "--interval", "2"], dir.path());
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&output.stderr)
    );
    let files = snapshots(&dir.path().join("profiles"));
    assert_eq!(files.len(), 2, "{stdout}");
    for file in &files {
        assert!(stdout.contains(&file.display().to_string()), "{stdout}");
    }
    let before = count_objects(&files[0], "LeakyRequestContext");
    let after = count_objects(&files[1], "LeakyRequestContext");
    assert!(
        before > 0 && after > before,
        "the leak grows: {before} then {after}"
    );
}
