//! Shared helpers: snapshots written by a real Node program, and the reference numbers of
//! heap-snapshot-toolkit (Chrome DevTools' HeapSnapshot worker).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A directory that lives as long as the test binary (snapshots are shared between its tests).
pub(crate) fn workdir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
        .path()
}

/// Creates `path` with `write(temporary path)` once per test binary: under a lock, then renamed, so
/// tests running in parallel never read a half-written snapshot.
fn once(path: &Path, write: impl FnOnce(&Path)) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if path.exists() {
        return;
    }
    let partial = path.with_extension("partial");
    write(&partial);
    std::fs::rename(&partial, path).expect("rename the snapshot");
}

/// Runs `node -e SCRIPT ARGS...`, panicking with its stderr on failure.
pub(crate) fn run_node(script: &str, args: &[&str]) {
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .args(args)
        .output()
        .expect("node runs (Node.js 20 must be on PATH)");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A snapshot of a Node program holding `count` instances of `class LeakyClass` in
/// `globalThis.leak`, written once per test binary.
pub(crate) fn leaky_snapshot(count: usize) -> PathBuf {
    let path = workdir().join(format!("leaky-{count}.heapsnapshot"));
    once(&path, |partial| {
        let script = r#"
            const v8 = require('node:v8');
            class LeakyClass { constructor(i) { this.index = i; this.payload = 'payload-' + i; } }
            globalThis.leak = [];
            const count = Number(process.argv[2]);
            for (let i = 0; i < count; i++) globalThis.leak.push(new LeakyClass(i));
            v8.writeHeapSnapshot(process.argv[1]);
        "#;
        run_node(
            script,
            &[partial.to_str().expect("utf-8 path"), &count.to_string()],
        );
    });
    path
}

/// A snapshot of the mixed-objects program `tests/fixtures/mixed.js` at `scale`.
pub(crate) fn mixed_snapshot(scale: f64) -> PathBuf {
    let path = workdir().join(format!("mixed-{scale}.heapsnapshot"));
    once(&path, |partial| {
        let script = manifest_dir().join("tests/fixtures/mixed.js");
        let status = Command::new("node")
            .arg(&script)
            .arg(partial)
            .arg(scale.to_string())
            .status()
            .expect("node runs");
        assert!(status.success(), "mixed.js failed");
    });
    path
}

pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The toolkit's directory; panics with the install command when its modules are missing.
pub(crate) fn toolkit_dir() -> PathBuf {
    let dir = manifest_dir().join("tests/toolkit");
    let module = dir.join("node_modules/heap-snapshot-toolkit/package.json");
    assert!(
        module.exists(),
        "heap-snapshot-toolkit is not installed: run `npm ci --prefix {}` (the reference numbers \
         these tests compare against come from it)",
        dir.display()
    );
    dir
}

/// Runs a script of `tests/toolkit` and parses its JSON output.
pub(crate) fn toolkit(script: &str, args: &[&Path]) -> serde_json::Value {
    let dir = toolkit_dir();
    let output = Command::new("node")
        .arg("--max-old-space-size=4096")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the toolkit script prints JSON")
}

/// A small deterministic generator (xorshift64*), for chunk sizes and offsets.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
