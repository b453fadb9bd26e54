//! Letting go of a Node.js program that has ended.
//!
//! A Node.js program whose work is done (its event loop empty, or `process.exit()` called)
//! does not exit while an inspector client is attached: it prints "Waiting for the debugger to
//! disconnect..." and waits, answering no more calls. An agent attached to a service would so
//! keep the service from ever shutting down. Each session therefore asks Node to say when that
//! happens (`NodeRuntime.notifyWhenWaitingForDisconnect`) and closes itself on the news
//! (`NodeRuntime.waitingForDisconnect`), after delivering every frame received before it: a
//! heap snapshot V8 had finished sending is still complete. Other runtimes (Chrome, Deno) do
//! not know the domain and refuse the request, which changes nothing.

/// The request that makes Node announce its program's end.
pub(crate) const NOTIFY_METHOD: &str = "NodeRuntime.notifyWhenWaitingForDisconnect";

/// The event Node sends when its program has ended and it waits for clients to disconnect.
pub(crate) const WAITING_EVENT: &str = "NodeRuntime.waitingForDisconnect";

/// The reason the session gives when it closes on [`WAITING_EVENT`].
pub(crate) const CLOSE_REASON: &str =
    "the target's program has ended (Node.js waits for its inspector clients to let go; we did)";
