//! The analysis results as an operator reads them: aligned text tables, or JSON.

use std::fmt::Write as _;

use openprofiling_heapsnapshot::{Diff, RetainerPath, Summary};
use serde::Serialize;

use crate::destination::human_bytes;

/// The top `top` classes by retained size, and the total.
pub(crate) fn summary_text(summary: &Summary, top: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} in {} objects; top {} of {} classes by retained size:",
        human_bytes(summary.total_size),
        summary.node_count,
        top.min(summary.classes.len()),
        summary.classes.len()
    );
    let _ = writeln!(
        text,
        "{:>10} {:>12} {:>14}  class",
        "count", "self size", "retained size"
    );
    for class in summary.classes.iter().take(top) {
        let _ = writeln!(
            text,
            "{:>10} {:>12} {:>14}  {}",
            class.count,
            human_bytes(class.self_size),
            human_bytes(class.retained_size),
            one_line(&class.name)
        );
    }
    text
}

/// The top `top` classes by size change between two snapshots.
pub(crate) fn diff_text(diff: &Diff, top: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} → {}; top {} of {} changed classes by size change:",
        human_bytes(diff.before_total_size),
        human_bytes(diff.after_total_size),
        top.min(diff.classes.len()),
        diff.classes.len()
    );
    let _ = writeln!(
        text,
        "{:>9} {:>9} {:>10} {:>12}  class",
        "added", "removed", "count Δ", "size Δ"
    );
    for class in diff.classes.iter().take(top) {
        let _ = writeln!(
            text,
            "{:>9} {:>9} {:>+10} {:>12}  {}",
            class.added,
            class.removed,
            class.count_delta,
            signed_bytes(class.size_delta),
            one_line(&class.name)
        );
    }
    text
}

/// Each retainer path on its own line, root first.
pub(crate) fn retainers_text(paths: &[RetainerPath]) -> String {
    let mut text = String::new();
    for (index, path) in paths.iter().enumerate() {
        let _ = writeln!(text, "{:>3}. {path}", index + 1);
    }
    text
}

/// Pretty JSON with a final newline.
pub(crate) fn json(value: &impl Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// `+1.2 MB`, `-340 B`.
fn signed_bytes(delta: i64) -> String {
    let sign = if delta < 0 { '-' } else { '+' };
    format!("{sign}{}", human_bytes(delta.unsigned_abs()))
}

/// Class names can hold newlines (string contents, `{a, b}` shapes): one line, 100 chars at most.
fn one_line(name: &str) -> String {
    let flat: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_on_one_line_and_short() {
        assert_eq!(one_line("a\nb"), "a b");
        let long = "x".repeat(300);
        assert_eq!(one_line(&long).chars().count(), 101);
        assert_eq!(signed_bytes(-1500), "-1.5 KB");
        assert_eq!(signed_bytes(12), "+12 B");
    }
}
