//! Ctrl-C or SIGTERM during `openprofiling snapshot`: the snapshot is aborted cleanly, within a
//! bound, leaving no file behind, and the exit code says which signal ended it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openprofiling_core::mock::NodeProcess;

/// Every entry of `dir`, hidden partial files included.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn interrupt_mid_snapshot(signal: Signal, expected_code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // About 200 MB of strings, all built before the snapshot is asked for (the inspector
    // could take it mid-way otherwise, small and quick): it streams for seconds, so the signal
    // lands mid-way.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let program = "globalThis.kept = Array.from({ length: 2_000_000 }, (_, i) => 'item ' + i + ' '.repeat(64)); console.log('ready'); setInterval(() => {}, 1000);";
    let node = runtime.block_on(NodeProcess::start(program));
    let mut child = Command::new(env!("CARGO_BIN_EXE_openprofiling"))
        .args(["snapshot", "--no-gc", "--ws", node.ws_url(), "--to"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the partial file to hold bytes: chunks are streaming.
    let deadline = Instant::now() + Duration::from_secs(60);
    let streaming = || {
        entries(&out).iter().any(|name| {
            name.ends_with(".partial")
                && std::fs::metadata(out.join(name)).is_ok_and(|m| m.len() > 0)
        })
    };
    while !streaming() {
        assert!(
            Instant::now() < deadline,
            "no partial file within 60 s: {:?}",
            entries(&out)
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the snapshot ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let output = child.wait_with_output().unwrap();
    let took = sent.elapsed();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("interrupted by {}", signal.as_str()))
            && stderr.contains("nothing was saved"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no destination reports a save");
    assert!(
        took < Duration::from_secs(10),
        "stopped {took:?} after the signal"
    );
    assert_eq!(
        entries(&out),
        Vec::<String>::new(),
        "no file, partial or final, is left"
    );
    runtime.block_on(node.stop());
}

#[test]
fn sigterm_mid_snapshot_aborts_it_and_exits_143() {
    interrupt_mid_snapshot(Signal::SIGTERM, 143);
}

#[test]
fn ctrl_c_mid_snapshot_aborts_it_and_exits_130() {
    interrupt_mid_snapshot(Signal::SIGINT, 130);
}
