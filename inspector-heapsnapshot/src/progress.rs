//! [`SnapshotProgress`]: how far a heap snapshot has come, for progress bars.

/// How far the heap snapshot in progress has come, as published on
/// [`InspectorHeapSnapshot::progress`](crate::InspectorHeapSnapshot::progress).
///
/// V8 first walks the heap, reporting `done` of `total` objects (its
/// `HeapProfiler.reportHeapSnapshotProgress` events) until `finished`; then it serialises the
/// snapshot, and `bytes` counts what has been streamed to the exporters so far. Each new
/// snapshot starts again from [`SnapshotProgress::default`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// Heap objects V8 has walked so far.
    pub done: u64,
    /// Heap objects V8 has to walk (0 until its first report).
    pub total: u64,
    /// V8 has walked the whole heap; the snapshot is being streamed, or is complete.
    pub finished: bool,
    /// Bytes of snapshot written to the exporters so far.
    pub bytes: u64,
}

impl SnapshotProgress {
    /// The share of the heap walked, from 0.0 to 1.0 (0.0 before V8's first report).
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_is_bounded_and_complete_when_finished() {
        assert_eq!(SnapshotProgress::default().fraction(), 0.0);
        let half = SnapshotProgress {
            done: 50,
            total: 100,
            ..Default::default()
        };
        assert_eq!(half.fraction(), 0.5);
        let over = SnapshotProgress {
            done: 150,
            total: 100,
            ..Default::default()
        };
        assert_eq!(over.fraction(), 1.0);
        let finished = SnapshotProgress {
            finished: true,
            ..Default::default()
        };
        assert_eq!(finished.fraction(), 1.0);
    }
}
