//! What the operator reads after a profile: one line per destination.

use openprofiling_core::{ProfileKind, ProfileReport, ProfileStatus};

use crate::destination::human_bytes;
use crate::live_analysis;

/// The profile kind in words: `heap snapshot`, `CPU profile`, `heap profile`.
pub(crate) fn kind_in_words(kind: ProfileKind) -> &'static str {
    match kind {
        ProfileKind::HeapSnapshot => "heap snapshot",
        ProfileKind::CpuProfile => "CPU profile",
        ProfileKind::HeapProfile => "heap profile",
        _ => "profile",
    }
}

/// One line per destination on stdout; a failed profile's reason on stderr.
pub(crate) fn print_report(report: &ProfileReport) {
    let kind = kind_in_words(report.profile.kind);
    if let ProfileStatus::Failed(reason) = &report.profile.status {
        eprintln!("error: the {kind} failed: {reason}");
    }
    for export in &report.exports {
        if export.exporter == live_analysis::NAME {
            // Not a destination: its result is printed by the command that asked for it.
            if let Err(error) = &export.result {
                eprintln!("error: {error}");
            }
            continue;
        }
        match &export.result {
            Ok(receipt) => println!(
                "saved {kind} ({}) to {}",
                human_bytes(receipt.stored_bytes),
                receipt.location
            ),
            Err(error) => println!("not saved to {}: {error}", export.exporter),
        }
    }
}
