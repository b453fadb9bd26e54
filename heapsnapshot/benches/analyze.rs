//! Benchmark: our parse + summary against v8-heap-parser (`decode_slice` of the file read into
//! memory, root retained size, class groups with retained sizes)
//! and heap-snapshot-toolkit (Chrome DevTools' worker) on ~200 MB and ~600 MB snapshots.
//!
//! `cargo bench -p openprofiling-heapsnapshot --bench analyze` (sizes in MB:
//! `HEAPSNAPSHOT_BENCH_SIZES=200,600`; a snapshot file instead: `HEAPSNAPSHOT_BENCH_FILE=path`;
//! only this crate, not the other tools: `HEAPSNAPSHOT_BENCH_ONLY_OURS=1`).
//! Snapshots are generated once with `tests/fixtures/mixed.js` and cached under
//! `target/heapsnapshot-bench/`. Each tool runs in its own child process, measured by a wrapper
//! process (this binary re-executed) that reports its wall time and peak RSS
//! (`getrusage(RUSAGE_CHILDREN)` of a process with one child).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use openprofiling_heapsnapshot::{HeapSnapshot, Phase};

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--measure") => measure(&args[2..]),
        Some("--child-ours") => child_ours(Path::new(&args[2])),
        Some("--child-v8") => child_v8(Path::new(&args[2])),
        _ => orchestrate(),
    }
}

/// Runs a command (killed after `HEAPSNAPSHOT_BENCH_TIMEOUT` seconds, default 300), prints
/// `{"ok", "timed_out", "wall_s", "max_rss_kb", "stdout"}`.
fn measure(command: &[String]) -> Result<(), BoxError> {
    let timeout = std::env::var("HEAPSNAPSHOT_BENCH_TIMEOUT")
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(300.0);
    let start = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::piped())
        .spawn()?;
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut stdout = String::new();
            let _ = out.read_to_string(&mut stdout);
            stdout
        })
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed().as_secs_f64() > timeout {
            timed_out = true;
            child.kill()?;
            break child.wait()?;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let wall = start.elapsed().as_secs_f64();
    let stdout = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    println!(
        "{}",
        serde_json::json!({
            "ok": status.success(),
            "timed_out": timed_out,
            "wall_s": wall,
            "max_rss_kb": usage.max_rss(),
            "stdout": stdout.trim(),
        })
    );
    Ok(())
}

fn child_ours(path: &Path) -> Result<(), BoxError> {
    let start = Instant::now();
    let phases: RefCell<Vec<(Phase, f64)>> = RefCell::new(Vec::new());
    let progress = |phase: Phase, _done: u64, _total: u64| {
        let mut p = phases.borrow_mut();
        if p.last().map(|l| l.0) != Some(phase) {
            p.push((phase, start.elapsed().as_secs_f64()));
        }
    };
    let snapshot = HeapSnapshot::from_path_with_progress(path, &progress)?;
    let summary = snapshot.summary();
    let end = start.elapsed().as_secs_f64();
    let phases = phases.into_inner();
    let mut durations = serde_json::Map::new();
    for (i, (phase, at)) in phases.iter().enumerate() {
        let until = phases.get(i + 1).map_or(end, |next| next.1);
        let entry = durations
            .entry(phase.label())
            .or_insert(serde_json::json!(0.0));
        *entry = serde_json::json!(entry.as_f64().unwrap_or(0.0) + (until - at));
    }
    println!(
        "{}",
        serde_json::json!({
            "total_size": summary.total_size,
            "node_count": summary.node_count,
            "classes": summary.classes.len(),
            "phases": durations,
        })
    );
    Ok(())
}

fn child_v8(path: &Path) -> Result<(), BoxError> {
    // Its fastest input path: the whole file in memory (its streaming `decode_reader` goes through
    // serde_json's byte-at-a-time reader and is several times slower).
    let bytes = std::fs::read(path)?;
    let graph = v8_heap_parser::decode_slice(&bytes)?;
    drop(bytes);
    let root = graph.retained_size(0);
    let groups = graph.get_class_groups(false).len();
    println!(
        "{}",
        serde_json::json!({ "root_retained": root, "classes": groups })
    );
    Ok(())
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/analyze-<hash>
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A cached snapshot of about `mb` megabytes.
fn snapshot_of(mb: u64) -> Result<PathBuf, BoxError> {
    let dir = target_dir().join("heapsnapshot-bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("mixed-{mb}mb.heapsnapshot"));
    if path.exists() {
        return Ok(path);
    }
    // mixed.js writes about 3.9 MB per unit of scale.
    let scale = mb as f64 / 3.9;
    eprintln!("generating {} (scale {scale:.1})...", path.display());
    let partial = path.with_extension("partial");
    let status = Command::new("node")
        .arg("--max-old-space-size=16384")
        .arg(manifest_dir().join("tests/fixtures/mixed.js"))
        .arg(&partial)
        .arg(format!("{scale}"))
        .status()?;
    if !status.success() {
        return Err("node failed to write the snapshot".into());
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

struct Run {
    wall: f64,
    rss_mb: f64,
    output: serde_json::Value,
}

fn run_measured(command: &[String]) -> Result<Option<Run>, BoxError> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe).arg("--measure").args(command).output()?;
    let line: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    if line["timed_out"] == true {
        println!(
            "  {} killed after {:.0} s (HEAPSNAPSHOT_BENCH_TIMEOUT)",
            command.get(1).map_or("", String::as_str),
            line["wall_s"].as_f64().unwrap_or(0.0)
        );
        return Ok(None);
    }
    if line["ok"] != true {
        eprintln!("  {} failed", command.join(" "));
        return Ok(None);
    }
    let stdout = line["stdout"].as_str().unwrap_or("");
    Ok(Some(Run {
        wall: line["wall_s"].as_f64().unwrap_or(0.0),
        rss_mb: line["max_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        output: serde_json::from_str(stdout).unwrap_or(serde_json::Value::Null),
    }))
}

/// Single-thread copy bandwidth, GB/s (what a parse "near memory bandwidth" compares with).
fn copy_bandwidth() -> f64 {
    let size = 256 << 20;
    let src = vec![1u8; size];
    let mut dst = vec![0u8; size];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        dst.copy_from_slice(&src);
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    size as f64 / best / 1e9
}

fn orchestrate() -> Result<(), BoxError> {
    let files: Vec<PathBuf> = match std::env::var_os("HEAPSNAPSHOT_BENCH_FILE") {
        Some(file) => vec![PathBuf::from(file)],
        None => {
            let sizes =
                std::env::var("HEAPSNAPSHOT_BENCH_SIZES").unwrap_or_else(|_| "200,600".into());
            let mut files = Vec::new();
            for mb in sizes
                .split(',')
                .filter_map(|s| s.trim().parse::<u64>().ok())
            {
                files.push(snapshot_of(mb)?);
            }
            files
        }
    };
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let toolkit = manifest_dir().join("tests/toolkit");
    let have_toolkit = toolkit.join("node_modules/heap-snapshot-toolkit").exists();
    if !have_toolkit {
        eprintln!(
            "heap-snapshot-toolkit missing: run `npm ci --prefix {}` to include it",
            toolkit.display()
        );
    }
    let bandwidth = copy_bandwidth();
    println!("single-thread memory copy bandwidth: {bandwidth:.1} GB/s");
    for file in files {
        let size = std::fs::metadata(&file)?.len();
        let size_mb = size as f64 / (1 << 20) as f64;
        println!("\n{} ({size_mb:.0} MiB)", file.display());
        println!(
            "{:<22} {:>9} {:>12} {:>10}",
            "tool", "wall s", "peak RSS MiB", "RSS/file"
        );
        let path = file.to_string_lossy().into_owned();
        let ours = run_measured(&[exe.clone(), "--child-ours".into(), path.clone()])?;
        let only_ours = std::env::var_os("HEAPSNAPSHOT_BENCH_ONLY_OURS").is_some();
        let v8 = if only_ours {
            None
        } else {
            run_measured(&[exe.clone(), "--child-v8".into(), path.clone()])?
        };
        let devtools = if have_toolkit && !only_ours {
            run_measured(&[
                "node".into(),
                "--max-old-space-size=16384".into(),
                toolkit.join("summary.js").to_string_lossy().into_owned(),
                path.clone(),
            ])?
        } else {
            None
        };
        for (name, run) in [
            ("openprofiling", &ours),
            ("v8-heap-parser 1.1", &v8),
            ("heap-snapshot-toolkit", &devtools),
        ] {
            if let Some(run) = run {
                println!(
                    "{name:<22} {:>9.2} {:>12.0} {:>10.2}",
                    run.wall,
                    run.rss_mb,
                    run.rss_mb / size_mb
                );
            }
        }
        let Some(ours) = ours else { continue };
        for (name, other) in [("v8-heap-parser", &v8), ("toolkit", &devtools)] {
            if let Some(other) = other {
                println!(
                    "ours / {name}: wall {:.3}x, peak RSS {:.3}x",
                    ours.wall / other.wall,
                    ours.rss_mb / other.rss_mb
                );
            }
        }
        if let Some(devtools) = &devtools {
            let same = ours.output["total_size"] == devtools.output["total_size"]
                && ours.output["node_count"] == devtools.output["node_count"];
            println!(
                "statistics.total ours {} DevTools {} nodes ours {} DevTools {}: {}",
                ours.output["total_size"],
                devtools.output["total_size"],
                ours.output["node_count"],
                devtools.output["node_count"],
                if same { "equal" } else { "DIFFERENT" }
            );
        }
        let phases = &ours.output["phases"];
        if let Some(map) = phases.as_object() {
            let total: f64 = map.values().filter_map(|v| v.as_f64()).sum();
            let parse = phases["parsing"].as_f64().unwrap_or(0.0);
            let dominators = phases["dominators"].as_f64().unwrap_or(0.0);
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k} {:.2}s", v.as_f64().unwrap_or(0.0)))
                .collect();
            println!("our phases: {}", parts.join(", "));
            println!(
                "bounds: parse {:.2} GB/s ({:.0}% of copy bandwidth, {:.0}% of our time), dominators {:.0}% of our time",
                size as f64 / parse.max(1e-9) / 1e9,
                100.0 * size as f64 / parse.max(1e-9) / 1e9 / bandwidth,
                100.0 * parse / total.max(1e-9),
                100.0 * dominators / total.max(1e-9),
            );
        }
    }
    Ok(())
}
