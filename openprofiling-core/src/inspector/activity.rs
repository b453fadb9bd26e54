//! [`TargetActivity`]: which profiling activities run on which target, process-wide, and
//! which may run together.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use tracing::debug;

/// Activities claimed per target URL in this process.
static CLAIMS: Mutex<BTreeMap<String, Vec<Activity>>> = Mutex::new(BTreeMap::new());

/// The Node issue behind the snapshot/sampling refusal.
pub const HEAP_SNAPSHOT_SAMPLING_ISSUE: &str = "nodejs/node#23877";

/// Something a profiler does to a target that may conflict with what another does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activity {
    /// `HeapProfiler.takeHeapSnapshot`, from request to last chunk.
    HeapSnapshot,
    /// The sampling heap profiler, from `HeapProfiler.startSampling` to `stopSampling`.
    HeapSampling,
    /// The CPU profiler, from `Profiler.start` to `Profiler.stop`.
    CpuProfile,
}

impl Activity {
    /// A short name for messages (`heap snapshot`, `heap sampling profile`, `CPU profile`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeapSnapshot => "heap snapshot",
            Self::HeapSampling => "heap sampling profile",
            Self::CpuProfile => "CPU profile",
        }
    }

    /// Whether `self` may start while `running` runs on the same target: `Ok`, or the
    /// conflict's kind.
    fn check(self, running: Self) -> Result<(), ConflictKind> {
        match (self, running) {
            (a, b) if a == b => Err(ConflictKind::Busy),
            (Self::HeapSnapshot, Self::HeapSampling) | (Self::HeapSampling, Self::HeapSnapshot) => {
                Err(ConflictKind::SnapshotDuringSampling)
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConflictKind {
    Busy,
    SnapshotDuringSampling,
}

/// Why [`TargetActivity::claim`] refused: what was asked, on which target, and what runs there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// The same activity already runs on the target.
    #[error(
        "a {activity} of {url} is already running in this process; wait for it to finish (or end it) before starting another"
    )]
    Busy {
        /// The target's inspector URL.
        url: String,
        /// The activity asked for, and running.
        activity: Activity,
    },

    /// A heap snapshot was asked for while heap sampling runs on the target, or the reverse.
    #[error(
        "refusing a {requested} of {url} while a {running} runs on it: taking a heap snapshot during heap sampling crashes some Node versions ({HEAP_SNAPSHOT_SAMPLING_ISSUE}); {}",
        advice(*requested)
    )]
    HeapSnapshotDuringSampling {
        /// The target's inspector URL.
        url: String,
        /// The activity asked for.
        requested: Activity,
        /// The activity running.
        running: Activity,
    },
}

fn advice(requested: Activity) -> &'static str {
    match requested {
        Activity::HeapSnapshot => "end the heap sampling profile first, then take the snapshot",
        _ => "start the heap sampling profile once the snapshot is done",
    }
}

impl Conflict {
    /// The target's inspector URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Busy { url, .. } | Self::HeapSnapshotDuringSampling { url, .. } => url,
        }
    }

    /// Whether the refusal is the same activity already running (rather than an incompatible
    /// one).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

/// The process-wide registry of which profiling activities run on which target, and which may
/// run together.
///
/// Profilers of one agent (or of several agents in one process) may reach the same target
/// over one shared session or over connections of their own. Before touching the target each
/// claims its [`Activity`] with [`TargetActivity::claim`]; the claim is released when the
/// [`ActivityClaim`] is dropped. The rules:
///
/// - the same activity twice on one target is refused as busy: two heap snapshots would mix
///   their chunks on a shared session and multiply the target's memory; two CPU or sampling
///   profiles would stop each other;
/// - a heap snapshot and heap sampling are refused together, in either order: taking a heap
///   snapshot while the sampling heap profiler runs crashed some Node versions
///   (nodejs/node#23877). This is a refusal, not a queue: a sampling profile can run for hours,
///   a snapshot must not wait on it, and the agent refuses what it cannot do now rather than
///   queueing it;
/// - a CPU profile runs alongside either.
///
/// Targets are told apart by their inspector URL as given: the same process reached under two
/// URLs (`localhost` and `127.0.0.1`) counts as two targets.
#[derive(Debug, Clone, Copy)]
pub struct TargetActivity;

impl TargetActivity {
    /// Claims `activity` on the target at `url`, or says what it conflicts with. The claim
    /// lasts until the returned [`ActivityClaim`] is dropped (also when the future holding it
    /// is cancelled).
    pub fn claim(url: &str, activity: Activity) -> Result<ActivityClaim, Conflict> {
        let mut claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        let running = claims.entry(url.to_owned()).or_default();
        for &other in running.iter() {
            match activity.check(other) {
                Ok(()) => {}
                Err(ConflictKind::Busy) => {
                    return Err(Conflict::Busy {
                        url: url.to_owned(),
                        activity,
                    });
                }
                Err(ConflictKind::SnapshotDuringSampling) => {
                    return Err(Conflict::HeapSnapshotDuringSampling {
                        url: url.to_owned(),
                        requested: activity,
                        running: other,
                    });
                }
            }
        }
        running.push(activity);
        debug!(url, %activity, "Target activity claimed.");
        Ok(ActivityClaim {
            url: url.to_owned(),
            activity,
        })
    }

    /// The activities claimed on `url` right now, in the order they were claimed.
    pub fn running(url: &str) -> Vec<Activity> {
        let claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        claims.get(url).cloned().unwrap_or_default()
    }
}

/// An activity claimed on a target; releases it when dropped.
#[derive(Debug)]
#[must_use = "the activity is released when the claim is dropped"]
pub struct ActivityClaim {
    url: String,
    activity: Activity,
}

impl ActivityClaim {
    /// The target's inspector URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The activity claimed.
    pub fn activity(&self) -> Activity {
        self.activity
    }
}

impl Drop for ActivityClaim {
    fn drop(&mut self) {
        let mut claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = claims.get_mut(&self.url) {
            if let Some(at) = running.iter().position(|&a| a == self.activity) {
                running.remove(at);
            }
            if running.is_empty() {
                claims.remove(&self.url);
            }
        }
        debug!(url = self.url, activity = %self.activity, "Target activity released.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL of its own per test, since the registry is process-wide.
    fn url(test: &str) -> String {
        format!("ws://127.0.0.1:1/activity-{test}")
    }

    #[test]
    fn the_same_activity_twice_is_busy() {
        let url = url("same");
        for activity in [
            Activity::HeapSnapshot,
            Activity::HeapSampling,
            Activity::CpuProfile,
        ] {
            let claim = TargetActivity::claim(&url, activity).expect("free");
            let conflict = TargetActivity::claim(&url, activity).expect_err("busy");
            assert_eq!(
                conflict,
                Conflict::Busy {
                    url: url.clone(),
                    activity
                }
            );
            assert!(conflict.is_busy());
            assert!(
                conflict.to_string().contains(activity.as_str()),
                "{conflict}"
            );
            drop(claim);
            let again = TargetActivity::claim(&url, activity).expect("freed on drop");
            drop(again);
        }
        assert!(TargetActivity::running(&url).is_empty());
    }

    #[test]
    fn heap_snapshot_and_heap_sampling_refuse_each_other_naming_the_node_issue() {
        let url = url("snapshot-sampling");
        for (first, second) in [
            (Activity::HeapSampling, Activity::HeapSnapshot),
            (Activity::HeapSnapshot, Activity::HeapSampling),
        ] {
            let claim = TargetActivity::claim(&url, first).expect("free");
            let conflict = TargetActivity::claim(&url, second).expect_err("incompatible");
            assert_eq!(
                conflict,
                Conflict::HeapSnapshotDuringSampling {
                    url: url.clone(),
                    requested: second,
                    running: first,
                }
            );
            assert!(!conflict.is_busy());
            let message = conflict.to_string();
            assert!(message.contains("nodejs/node#23877"), "{message}");
            assert!(message.contains(&url), "{message}");
            // The refused claim left nothing behind.
            assert_eq!(TargetActivity::running(&url), vec![first]);
            drop(claim);
            let now_free = TargetActivity::claim(&url, second).expect("freed on drop");
            drop(now_free);
        }
    }

    #[test]
    fn a_cpu_profile_runs_alongside_either_heap_activity() {
        let url = url("cpu");
        let cpu = TargetActivity::claim(&url, Activity::CpuProfile).expect("free");
        let snapshot = TargetActivity::claim(&url, Activity::HeapSnapshot).expect("compatible");
        drop(snapshot);
        let sampling = TargetActivity::claim(&url, Activity::HeapSampling).expect("compatible");
        assert_eq!(
            TargetActivity::running(&url),
            vec![Activity::CpuProfile, Activity::HeapSampling]
        );
        drop(cpu);
        // And the other way round: heap activity first, then a CPU profile.
        let cpu = TargetActivity::claim(&url, Activity::CpuProfile).expect("compatible");
        drop((cpu, sampling));
        assert!(TargetActivity::running(&url).is_empty());
    }

    #[test]
    fn targets_are_independent() {
        let (a, b) = (url("a"), url("b"));
        let on_a = TargetActivity::claim(&a, Activity::HeapSampling).expect("free");
        let on_b = TargetActivity::claim(&b, Activity::HeapSnapshot).expect("other target");
        assert_eq!(on_b.url(), b);
        assert_eq!(on_a.activity(), Activity::HeapSampling);
        drop((on_a, on_b));
    }
}
