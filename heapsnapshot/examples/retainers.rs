//! Prints the retainer paths of the first objects of a class:
//! `cargo run --release --example retainers -- FILE CLASS [K]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use openprofiling_heapsnapshot::HeapSnapshot;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(class)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: retainers FILE.heapsnapshot CLASS [K]");
        std::process::exit(2);
    };
    let k = args.get(3).map_or(Ok(3), |k| k.parse())?;
    let snapshot = HeapSnapshot::from_path(path)?;
    let Some(&node) = snapshot.find_class(class).first() else {
        eprintln!("no object of class {class}");
        std::process::exit(1);
    };
    for path in snapshot.retainer_paths(node, k) {
        println!("{path}");
    }
    Ok(())
}
