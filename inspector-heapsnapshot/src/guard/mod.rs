//! The memory guard: before a snapshot, estimate how much memory it will make the target
//! allocate and compare with what the target may still take, so that a snapshot does not get
//! the pod OOM-killed.

mod estimate;
mod headroom;

use openprofiling_core::{Error, InspectorSession, Result, is_loopback_host};
use serde::Deserialize;
use serde_json::json;
use tracing::{debug, warn};

pub use estimate::{Headroom, PEAK_FACTOR_OF_USED_HEAP, TargetMemory, Verdict, weigh};
pub(crate) use headroom::SystemRoot;

/// `Runtime.getHeapUsage`'s reply.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeapUsage {
    used_size: f64,
}

/// Reads the target's memory and headroom and weighs them; `None` when the headroom cannot be
/// known (a remote target, no `/proc`), which the caller treats as "allowed, with a warning".
pub(crate) async fn inspect(
    session: &InspectorSession,
    system: &SystemRoot,
    margin_percent: u32,
) -> Result<Option<Verdict>> {
    if !is_local(session.url()) {
        warn!(
            url = session.url(),
            "The memory guard cannot see a remote target's memory; taking the snapshot unguarded."
        );
        return Ok(None);
    }
    let pid = session.target().pid;
    let usage: HeapUsage = match session.call("Runtime.getHeapUsage", json!({})).await {
        Ok(usage) => usage,
        // A runtime without the method: the guard cannot judge, the snapshot goes on.
        Err(Error::Cdp { code, message, .. }) => {
            warn!(
                code,
                message,
                "The target cannot report its heap usage (Runtime.getHeapUsage); taking the snapshot unguarded."
            );
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let memory = TargetMemory {
        used_heap: usage.used_size.max(0.0) as u64,
    };
    let Some(mut headroom) = system.headroom(pid) else {
        warn!(
            "The memory guard found neither a cgroup limit nor /proc/meminfo; taking the snapshot unguarded."
        );
        return Ok(None);
    };
    if pid.is_none() {
        headroom
            .source
            .push_str("; the target's pid is unknown, so its cgroup was not read");
    }
    let verdict = weigh(memory, headroom, margin_percent);
    debug!(?memory, %verdict, "Memory guard.");
    Ok(Some(verdict))
}

/// Whether the inspector URL's host is this machine.
fn is_local(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(is_loopback_host))
        .unwrap_or(false)
}
