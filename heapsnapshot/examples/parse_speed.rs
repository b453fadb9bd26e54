//! Parse throughput from memory (no analysis): `cargo run --release --example parse_speed -- FILE`.
//! Feeds the file in 1 MiB chunks five times and prints the best time.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use openprofiling_heapsnapshot::SnapshotParser;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_speed FILE.heapsnapshot");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path)?;
    let cpu = || {
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .map(|u| {
                let t = u.user_time();
                t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
            })
            .unwrap_or(0.0)
    };
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu_start = cpu();
        let mut parser = SnapshotParser::new();
        for chunk in bytes.chunks(1 << 20) {
            parser.feed(chunk)?;
        }
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu() - cpu_start);
        drop(parser);
    }
    println!(
        "{:.0} MB in {:.3} s wall, {:.3} s user CPU: {:.2} GB/s wall, {:.2} GB/s per CPU second",
        bytes.len() as f64 / 1e6,
        best,
        best_cpu,
        bytes.len() as f64 / best / 1e9,
        bytes.len() as f64 / best_cpu / 1e9
    );
    Ok(())
}
