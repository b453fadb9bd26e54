//! [`DevicePace`]: whether direct writes keep up with a heap snapshot stream.
//!
//! Direct I/O writes wait for the device. On a slow one (a network volume of 125 MB/s, a busy
//! disk) the agent would then read the inspector's socket more slowly than V8 serialises the
//! snapshot, and the difference would pile up in the profiled process, whose inspector thread
//! queues whatever the socket does not take: the memory of the program under study, the one
//! thing a snapshot must not endanger. The page cache absorbs such bursts on the agent's side
//! instead. So direct writes are timed, and a file whose device falls behind goes back to the
//! page cache for the rest of it.

use std::time::Duration;

/// The slowest sustained rate at which direct writes are kept: twice the pace of V8's
/// snapshot stream measured here (a 242 MB snapshot of a Node 20 process streamed in 4.7 s,
/// about 52 MB/s), which leaves room for faster machines.
const MIN_BYTES_PER_SECOND: u64 = 100_000_000;

/// Bytes written directly before the rate is judged: a few writes say little.
const JUDGED_AFTER: u64 = 16 << 20;

/// The longest one direct write may take, whatever the rate so far: a device that stalls
/// this long stalls the stream.
const MAX_WRITE: Duration = Duration::from_millis(100);

/// The time the direct writes of one file took, and what they wrote.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DevicePace {
    bytes: u64,
    busy: Duration,
}

impl DevicePace {
    /// Counts one direct write of `bytes` that took `took`; returns whether direct writes
    /// still keep up.
    pub(crate) fn record(&mut self, bytes: usize, took: Duration) -> bool {
        self.bytes += bytes as u64;
        self.busy += took;
        if took > MAX_WRITE {
            return false;
        }
        if self.bytes < JUDGED_AFTER {
            return true;
        }
        // bytes / busy >= MIN, without dividing by a zero duration.
        self.bytes as u128 * 1_000_000_000
            >= MIN_BYTES_PER_SECOND as u128 * self.busy.as_nanos().max(1)
    }

    /// The sustained rate so far, in MB/s, for logs.
    pub(crate) fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.busy.as_secs_f64().max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_fast_device_keeps_direct_writes() {
        let mut pace = DevicePace::default();
        // 1 MiB in 0.5 ms: 2 GB/s.
        for _ in 0..100 {
            assert!(pace.record(MIB, Duration::from_micros(500)));
        }
        assert!(pace.megabytes_per_second() > 1_000.0);
    }

    #[test]
    fn a_slow_device_is_judged_once_enough_was_written() {
        let mut pace = DevicePace::default();
        // 1 MiB in 20 ms: 52 MB/s, a busy network volume.
        for _ in 0..15 {
            assert!(
                pace.record(MIB, Duration::from_millis(20)),
                "too early to judge"
            );
        }
        assert!(!pace.record(MIB, Duration::from_millis(20)));
    }

    #[test]
    fn one_stalled_write_is_enough() {
        let mut pace = DevicePace::default();
        assert!(pace.record(MIB, Duration::from_micros(500)));
        assert!(!pace.record(MIB, Duration::from_millis(150)));
    }

    #[test]
    fn instant_writes_divide_by_no_zero() {
        let mut pace = DevicePace::default();
        for _ in 0..32 {
            assert!(pace.record(MIB, Duration::ZERO));
        }
    }
}
