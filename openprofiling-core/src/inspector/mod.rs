//! The Chrome DevTools Protocol side: target discovery and the inspector session.

mod activity;
mod address;
mod array_len;
mod buffers;
mod chunk_blocks;
mod connection;
mod discovery;
mod domain;
mod http;
mod message;
mod pinned;
mod process;
mod profiler_session;
mod ranged;
mod reply_member;
mod session;
mod shared;
mod subscription;
mod target;
pub(crate) mod target_end;
mod unescape;
mod websocket;

pub use activity::{
    Activity, ActivityClaim, Conflict, HEAP_SNAPSHOT_SAMPLING_ISSUE, TargetActivity,
};
pub use address::is_loopback_host;
pub use array_len::JsonArrayLen;
pub use chunk_blocks::{CHUNK_BLOCK_ALIGN, CHUNK_BLOCK_SIZE, ChunkBlocks};
pub use discovery::{Discovery, list_targets, version};
pub use domain::DomainGuard;
pub use message::{Event, RawReply};
pub use profiler_session::ProfilerSession;
pub use ranged::{RangedProfile, RangedStartError, Starting};
pub use reply_member::{REPLY_CHUNK_SIZE, ReplyMember};
pub use session::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_EVENT_CAPACITY, DEFAULT_MAX_MESSAGE_SIZE, InspectorSession,
    SessionBuilder,
};
pub use subscription::Subscription;
pub use target::{DiscoveredTarget, TargetDescription, TargetSelector, TargetSpec, VersionInfo};
