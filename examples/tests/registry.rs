//! The plugin crates register themselves when they are linked (and named: see the registry's
//! docs on inventory and the linker).

use openprofiling_core::Registry;
use openprofiling_exporter_file as _;
use openprofiling_inspector_cpu_profiler as _;
use openprofiling_inspector_heap_profiler as _;
use openprofiling_inspector_heapsnapshot as _;
use openprofiling_trigger_signal as _;

#[test]
fn the_linked_plugins_are_registered() {
    let registry = Registry::global().expect("no duplicate plugin names");
    let triggers: Vec<_> = registry.triggers().map(|p| p.name).collect();
    let profilers: Vec<_> = registry.profilers().map(|p| p.name).collect();
    let exporters: Vec<_> = registry.exporters().map(|p| p.name).collect();
    assert!(triggers.contains(&"signal"), "{triggers:?}");
    assert!(profilers.contains(&"heapsnapshot"), "{profilers:?}");
    assert!(profilers.contains(&"cpu-profile"), "{profilers:?}");
    assert!(profilers.contains(&"heap-profile"), "{profilers:?}");
    assert!(exporters.contains(&"file"), "{exporters:?}");
}
