//! Work on a second thread, beside this one's. Where no thread can be started, it runs on this
//! one afterwards.

use std::thread::{Scope, ScopedJoinHandle};

/// Starts `work` on a scoped thread named `name`, or returns the error when none can start.
pub(crate) fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    name: &str,
    work: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn_scoped(scope, work)
}

/// The result of a scoped thread, or of `run` on this thread when the thread could not be
/// started (the work is then done after the rest rather than beside it). A panic on the thread
/// resumes here.
pub(crate) fn join_or_run<T>(
    thread: std::io::Result<ScopedJoinHandle<'_, T>>,
    run: impl FnOnce() -> T,
) -> T {
    match thread {
        Ok(thread) => thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(error) => {
            tracing::debug!(%error, "No second thread: running its work on this one.");
            run()
        }
    }
}

/// Runs `first` on a second thread named `name` and `second` on this one, and returns both
/// results; both run here, `second` first, when no thread can be started.
pub(crate) fn both<A: Send, B>(
    name: &str,
    first: impl FnOnce() -> A + Send,
    second: impl FnOnce() -> B,
) -> (A, B) {
    // The closure moves into the thread, or stays here when the thread cannot start.
    let first = std::sync::Mutex::new(Some(first));
    let take = || {
        first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    std::thread::scope(|scope| {
        let thread = spawn(scope, name, || take().map(|f| f()));
        let b = second();
        let a = join_or_run(thread, || take().map(|f| f()));
        // Either the thread took and ran it, or it never started and the fallback did.
        (a.expect("the first half ran"), b)
    })
}
