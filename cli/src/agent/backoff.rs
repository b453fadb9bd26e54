//! Delays between attempts to reattach to a target that went away.

use std::time::Duration;

/// The first delay.
const FIRST: Duration = Duration::from_secs(1);
/// The longest delay: a restarted pod is found within this long of its inspector listening.
const LONGEST: Duration = Duration::from_secs(30);

/// Doubling delays from one second up to thirty, reset after a successful attach.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            next: FIRST,
            attempt: 0,
        }
    }

    /// The attempt number (from 1) and the delay before it.
    pub(crate) fn next_delay(&mut self) -> (u32, Duration) {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST);
        self.attempt += 1;
        (self.attempt, delay)
    }

    /// Back to the first delay.
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_thirty_seconds_and_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<_> = (0..7).map(|_| backoff.next_delay().1.as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff.next_delay().0, 8);
        backoff.reset();
        assert_eq!(backoff.next_delay(), (1, FIRST));
    }
}
