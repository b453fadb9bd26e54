//! Errors of this crate.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while reading or analysing a heap snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file or stream could not be read.
    #[error("cannot read heap snapshot{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Io {
        /// The file, when reading one.
        path: Option<PathBuf>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a well-formed heap snapshot at `offset`.
    #[error(
        "malformed heap snapshot at byte {offset} (in {context}): {message} (is this a .heapsnapshot file written by V8?)"
    )]
    Syntax {
        /// Byte offset in the (decompressed) input.
        offset: u64,
        /// The part of the document being read: `nodes`, `strings`, `snapshot meta`...
        context: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// The input ended before the snapshot was complete.
    #[error(
        "heap snapshot ends early at byte {offset} while reading {context} (the file is truncated: was the snapshot interrupted while being written or copied?)"
    )]
    Truncated {
        /// Bytes read in all.
        offset: u64,
        /// The part of the document being read when it ended.
        context: &'static str,
    },
    /// `snapshot.meta` lacks a field this analysis needs, or describes it in a way V8 never does.
    #[error("invalid heap snapshot meta: {message} (is this a .heapsnapshot file written by V8?)")]
    Meta {
        /// What is missing or wrong.
        message: String,
    },
    /// The arrays parse but do not describe a graph: a count or a reference is out of range.
    #[error("inconsistent heap snapshot: {message} (the file is corrupt or was not written by V8)")]
    Inconsistent {
        /// What does not add up.
        message: String,
    },
    /// The snapshot is larger than this crate's 32-bit indices allow.
    #[error("heap snapshot too large: {what} ({count}) exceeds 4294967295")]
    TooLarge {
        /// What overflowed: `edges`, `nodes`...
        what: &'static str,
        /// How many there were.
        count: u64,
    },
}

impl Error {
    pub(crate) fn syntax(offset: u64, context: &'static str, message: impl Into<String>) -> Self {
        Error::Syntax {
            offset,
            context,
            message: message.into(),
        }
    }

    pub(crate) fn inconsistent(message: impl Into<String>) -> Self {
        Error::Inconsistent {
            message: message.into(),
        }
    }

    pub(crate) fn meta(message: impl Into<String>) -> Self {
        Error::Meta {
            message: message.into(),
        }
    }
}
