//! Guards that let one heap snapshot run at a time, per profiler and per target.
//!
//! Per profiler: the agent already refuses a Start while a reaction collects, but two
//! reactions may share one profiler through `Arc`. Per target: CDP events go to every
//! subscriber of a session, so two snapshots over one session would mix their chunks; over
//! two connections V8 would take them one after the other while the first one's memory is
//! still held. Either way the second is refused, never queued. The per-target slot is the
//! core's [`TargetActivity`] registry, which also refuses a snapshot while the sampling heap
//! profiler runs on the target (nodejs/node#23877).

use std::sync::atomic::{AtomicBool, Ordering};

use openprofiling_core::{Activity, ActivityClaim, Conflict, TargetActivity};

use crate::error::Error;

/// Held while a snapshot is taken; frees both slots when dropped (also when the collection
/// is cancelled).
#[derive(Debug)]
pub(crate) struct SnapshotSlot<'a> {
    profiler: &'a AtomicBool,
    /// The target's slot, in the process-wide [`TargetActivity`] registry: it also refuses a
    /// snapshot while heap sampling runs on the target (nodejs/node#23877).
    _target: ActivityClaim,
}

impl<'a> SnapshotSlot<'a> {
    /// Takes the profiler's slot, then the target's; refuses when either is taken.
    pub(crate) fn acquire(profiler: &'a AtomicBool, url: &str) -> Result<Self, Error> {
        if profiler
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::Busy);
        }
        match TargetActivity::claim(url, Activity::HeapSnapshot) {
            Ok(target) => Ok(Self {
                profiler,
                _target: target,
            }),
            Err(conflict) => {
                profiler.store(false, Ordering::Release);
                Err(match conflict {
                    Conflict::Busy { url, .. } => Error::TargetBusy { url },
                    other => Error::Conflict(other),
                })
            }
        }
    }
}

impl Drop for SnapshotSlot<'_> {
    fn drop(&mut self) {
        // The target's claim is released when the field drops, right after.
        self.profiler.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_snapshot_per_profiler_and_per_target() {
        let first = AtomicBool::new(false);
        let second = AtomicBool::new(false);
        let url = "ws://127.0.0.1:1/busy-test";

        let slot = SnapshotSlot::acquire(&first, url).expect("free");
        assert!(matches!(
            SnapshotSlot::acquire(&first, "ws://127.0.0.1:1/other"),
            Err(Error::Busy)
        ));
        assert!(matches!(
            SnapshotSlot::acquire(&second, url),
            Err(Error::TargetBusy { .. })
        ));
        // The refused attempt must not leave the second profiler marked busy.
        let other = SnapshotSlot::acquire(&second, "ws://127.0.0.1:1/other").expect("free");
        drop(other);

        drop(slot);
        let again = SnapshotSlot::acquire(&second, url).expect("freed on drop");
        drop(again);
        assert!(!first.load(Ordering::Acquire) && !second.load(Ordering::Acquire));
    }

    #[test]
    fn a_snapshot_is_refused_while_heap_sampling_runs_on_the_target() {
        let profiler = AtomicBool::new(false);
        let url = "ws://127.0.0.1:1/busy-test-sampling";
        let sampling = TargetActivity::claim(url, Activity::HeapSampling).expect("free");
        let error = SnapshotSlot::acquire(&profiler, url).expect_err("refused");
        assert!(matches!(error, Error::Conflict(_)), "{error:?}");
        assert!(error.to_string().contains("nodejs/node#23877"), "{error}");
        assert!(
            !profiler.load(Ordering::Acquire),
            "the refusal frees the profiler"
        );
        drop(sampling);
        let slot = SnapshotSlot::acquire(&profiler, url).expect("free once sampling ended");
        drop(slot);
    }
}
