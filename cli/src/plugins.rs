//! `openprofiling plugins`: what this binary can be configured with.

use std::fmt::Write as _;

use openprofiling_core::Registry;
use openprofiling_core::registry::Plugin;

/// Lists every linked plugin by role, with its description and configuration keys.
pub(crate) fn run() -> anyhow::Result<std::process::ExitCode> {
    let registry = Registry::global()?;
    let mut text = String::new();
    section(&mut text, "triggers", registry.triggers());
    section(&mut text, "profilers", registry.profilers());
    section(&mut text, "exporters", registry.exporters());
    print!("{text}");
    Ok(std::process::ExitCode::SUCCESS)
}

fn section<T: 'static>(
    text: &mut String,
    title: &str,
    plugins: impl Iterator<Item = &'static Plugin<T>>,
) {
    let _ = writeln!(text, "{title}:");
    for plugin in plugins {
        let _ = writeln!(text, "  {:<14} {}", plugin.name, plugin.description);
        let keys = if plugin.config_keys.is_empty() {
            "(none)".to_owned()
        } else {
            plugin.config_keys.join(", ")
        };
        let _ = writeln!(text, "  {:<14} keys: {keys}", "");
    }
}
