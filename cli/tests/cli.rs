//! The `openprofiling` command as an operator runs it.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{count_objects, files_with, openprofiling, text};

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
    let files = files_with(&dir.path().join("out"), "heapsnapshot");
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

/// A script that ends at once (here by throwing) leaves nothing to snapshot: the command says
/// so at once, after the program's own last words, instead of waiting out a call timeout on a
/// Node that holds the ended program open for its inspector client.
#[test]
fn a_program_that_ends_before_its_snapshot_is_reported_after_its_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = openprofiling(
        &[
            "snapshot",
            "--to",
            "out",
            "--",
            "node",
            "-e",
            "throw new Error('boom from the script')",
        ],
        dir.path(),
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Error: boom from the script"),
        "the program's own output comes through: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: node ended (exit status: 1) before its heap snapshot was complete"
        ),
        "{stderr}"
    );
    assert!(
        last.contains("needs a program that keeps running"),
        "{stderr}"
    );
    assert!(files_with(&dir.path().join("out"), "heapsnapshot").is_empty());
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
    assert_eq!(files_with(&dir.path().join("a"), "heapsnapshot").len(), 1);
    assert_eq!(files_with(&dir.path().join("b"), "heapsnapshot").len(), 1);
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
    let files = files_with(&dir.path().join("profiles"), "heapsnapshot");
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
    // It ends with the diff of the two, analysed as they streamed, the leak on top, its count
    // change exactly the objects leaked between the snapshots. (Added and removed can both
    // exceed it: V8 may give an object moved by the garbage collector a new id.)
    let table: Vec<_> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("what grew between them"))
        .collect();
    let top = table
        .get(3)
        .unwrap_or_else(|| panic!("no diff table: {stdout}"));
    let columns: Vec<_> = top.split_whitespace().collect();
    assert_eq!(columns.last(), Some(&"LeakyRequestContext"), "{stdout}");
    assert_eq!(
        columns[2],
        format!("+{}", after - before),
        "count change = the objects leaked between the snapshots: {stdout}"
    );
}

#[test]
fn snapshot_summary_analyses_the_stream_even_into_a_bucket_only() {
    let dir = tempfile::tempdir().unwrap();
    let program = "class Widget {}; globalThis.kept = Array.from({length: 4321}, () => new Widget()); setInterval(() => {}, 1000);";
    let output = openprofiling(
        &[
            "snapshot",
            "--summary",
            "--to",
            "memory:///",
            "--",
            "node",
            "-e",
            program,
        ],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let lines: Vec<_> = stdout.lines().collect();
    assert!(lines[0].starts_with("saved heap snapshot"), "{stdout}");
    assert!(lines[1].contains(" objects; top 20 of "), "{stdout}");
    let widget = lines
        .iter()
        .find(|line| line.ends_with("  Widget"))
        .unwrap_or_else(|| panic!("Widget is among the top classes: {stdout}"));
    assert_eq!(widget.split_whitespace().next(), Some("4321"), "{widget}");
}
