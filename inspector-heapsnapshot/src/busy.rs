//! Guards that let one heap snapshot run at a time, per profiler and per target.
//!
//! Per profiler: the agent already refuses a Start while a reaction collects, but two
//! reactions may share one profiler through `Arc`. Per target: CDP events go to every
//! subscriber of a session, so two snapshots over one session would mix their chunks; over
//! two connections V8 would take them one after the other while the first one's memory is
//! still held. Either way the second is refused, never queued.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::error::Error;

/// Inspector URLs with a snapshot in progress in this process.
static TARGETS_IN_PROGRESS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Held while a snapshot is taken; frees both slots when dropped (also when the collection
/// is cancelled).
#[derive(Debug)]
pub(crate) struct SnapshotSlot<'a> {
    profiler: &'a AtomicBool,
    url: String,
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
        let mut targets = TARGETS_IN_PROGRESS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !targets
            .get_or_insert_with(HashSet::new)
            .insert(url.to_owned())
        {
            profiler.store(false, Ordering::Release);
            return Err(Error::TargetBusy {
                url: url.to_owned(),
            });
        }
        Ok(Self {
            profiler,
            url: url.to_owned(),
        })
    }
}

impl Drop for SnapshotSlot<'_> {
    fn drop(&mut self) {
        let mut targets = TARGETS_IN_PROGRESS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(targets) = targets.as_mut() {
            targets.remove(&self.url);
        }
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
}
