//! The decision: will the target survive the snapshot's extra memory?

use std::fmt;

/// How many times its used JavaScript heap a Node 20 process's resident memory peaks at while
/// V8 builds and serialises a snapshot (measured here: about 11×, and about 6× the snapshot's
/// size).
pub const PEAK_FACTOR_OF_USED_HEAP: u64 = 11;

/// What the target uses now, read before the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetMemory {
    /// The JavaScript heap in use (`Runtime.getHeapUsage`'s `usedSize`), in bytes.
    pub used_heap: u64,
}

/// How much memory the target can still take, and where that limit comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headroom {
    /// Bytes the target may still allocate before it is killed or the machine runs out.
    pub available: u64,
    /// Where the number comes from: a cgroup's path, or the machine's `MemAvailable`.
    pub source: String,
}

/// The guard's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The extra memory the snapshot is expected to make the target allocate, in bytes.
    pub expected_growth: u64,
    /// The same, with the margin added: what the headroom must be at least.
    pub required: u64,
    /// The headroom found.
    pub headroom: Headroom,
}

impl Verdict {
    /// Whether the headroom covers the growth and its margin.
    pub fn allows(&self) -> bool {
        self.headroom.available >= self.required
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the snapshot is expected to need {} more ({} with the margin), and {} is free ({})",
            mib(self.expected_growth),
            mib(self.required),
            mib(self.headroom.available),
            self.headroom.source,
        )
    }
}

/// `123.4 MiB`.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Weighs the expected growth, `margin_percent` more, against the headroom. The peak is
/// [`PEAK_FACTOR_OF_USED_HEAP`] times the used heap, and the process already holds about its
/// heap, so the growth is `PEAK_FACTOR_OF_USED_HEAP - 1` times the used heap. (Counting the
/// resident size as held would let a small heap in a big process through with no room at all:
/// its snapshot still needs memory of its own.)
pub fn weigh(memory: TargetMemory, headroom: Headroom, margin_percent: u32) -> Verdict {
    let expected_growth = memory
        .used_heap
        .saturating_mul(PEAK_FACTOR_OF_USED_HEAP - 1);
    let margin = u128::from(expected_growth) * u128::from(margin_percent) / 100;
    let margin = u64::try_from(margin).unwrap_or(u64::MAX);
    Verdict {
        expected_growth,
        required: expected_growth.saturating_add(margin),
        headroom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn headroom(available: u64) -> Headroom {
        Headroom {
            available,
            source: "test".to_owned(),
        }
    }

    #[test]
    fn growth_is_ten_times_the_heap_plus_the_margin() {
        let memory = TargetMemory {
            used_heap: 100 * MIB,
        };
        let verdict = weigh(memory, headroom(1000 * MIB), 25);
        assert_eq!(verdict.expected_growth, 1000 * MIB);
        assert_eq!(verdict.required, 1250 * MIB);
        assert!(!verdict.allows(), "1000 MiB free < 1250 MiB required");
        assert!(
            weigh(memory, headroom(1250 * MIB), 25).allows(),
            "exactly enough"
        );
        assert!(weigh(memory, headroom(1000 * MIB), 0).allows(), "no margin");
    }

    #[test]
    fn an_empty_heap_needs_nothing() {
        let verdict = weigh(TargetMemory { used_heap: 0 }, headroom(0), 50);
        assert_eq!((verdict.expected_growth, verdict.required), (0, 0));
        assert!(verdict.allows());
    }

    #[test]
    fn huge_numbers_saturate_instead_of_overflowing() {
        let memory = TargetMemory {
            used_heap: u64::MAX / 2,
        };
        let verdict = weigh(memory, headroom(u64::MAX), 1000);
        assert_eq!(verdict.required, u64::MAX);
        assert!(verdict.allows());
        assert!(!weigh(memory, headroom(u64::MAX - 1), 1000).allows());
    }

    #[test]
    fn the_message_gives_both_numbers_and_the_source() {
        let memory = TargetMemory {
            used_heap: 100 * MIB,
        };
        let text = weigh(memory, headroom(512 * MIB), 25).to_string();
        assert!(text.contains("1000.0 MiB more"), "{text}");
        assert!(text.contains("1250.0 MiB with the margin"), "{text}");
        assert!(text.contains("512.0 MiB is free (test)"), "{text}");
    }
}
