//! The error type of the `file` exporter.

use std::io;
use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong writing a profile to a directory. Each message names the path and, where
/// there is one, what to do.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination exists and is not a directory.
    #[error("{} is not a directory; give --to a directory", path.display())]
    NotADirectory {
        /// The destination given.
        path: PathBuf,
    },

    /// The destination directory could not be created or examined.
    #[error("cannot create the profile directory {}: {source}{}", path.display(), advice(source))]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// The temporary file for a profile could not be created.
    #[error("cannot create a file in {}: {source}{}", path.display(), advice(source))]
    Create {
        /// The temporary file tried.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// Writing, flushing or syncing the profile failed.
    #[error("cannot write the profile to {}: {source}{}", path.display(), advice(source))]
    Write {
        /// The temporary file being written.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A file already has the profile's final name; it is not overwritten.
    #[error(
        "{} already exists; not overwriting it (the profile stays unpublished; move the existing file away)",
        path.display()
    )]
    AlreadyExists {
        /// The final name.
        path: PathBuf,
    },

    /// The complete profile could not be given its final name.
    #[error("cannot publish the profile as {}: {source}{}", path.display(), advice(source))]
    Publish {
        /// The final name.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// The temporary file of an aborted profile could not be removed.
    #[error("cannot remove the partial profile {}: {source}{} (remove it by hand)", path.display(), advice(source))]
    Remove {
        /// The temporary file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A blocking file operation could not run (the runtime is shutting down).
    #[error("a file operation on {} did not complete: {reason}", path.display())]
    Interrupted {
        /// The path worked on.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What to do about common I/O errors, as a suffix to a message.
fn advice(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            " (permission denied: make the directory writable by this user, or give --to another directory)"
        }
        io::ErrorKind::StorageFull => {
            " (disk full: free some space on that file system, or give --to another directory)"
        }
        io::ErrorKind::QuotaExceeded => {
            " (disk quota exceeded: free some space, or give --to another directory)"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            " (read-only file system: give --to a writable directory)"
        }
        _ => "",
    }
}

impl From<Error> for openprofiling_core::Error {
    fn from(error: Error) -> Self {
        openprofiling_core::Error::plugin(crate::PLUGIN_NAME, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_says_so() {
        let error = Error::Write {
            path: "/var/profiles/.x.partial".into(),
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        let text = error.to_string();
        assert!(text.contains("/var/profiles/.x.partial"), "{text}");
        assert!(text.contains("disk full"), "{text}");
    }

    #[test]
    fn permission_denied_says_what_to_do() {
        let error = Error::Create {
            path: "/root/p".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        let text = error.to_string();
        assert!(text.contains("/root/p"), "{text}");
        assert!(
            text.contains("permission denied: make the directory writable"),
            "{text}"
        );
    }

    #[test]
    fn plugin_errors_name_the_plugin() {
        let error: openprofiling_core::Error = Error::NotADirectory {
            path: "/etc/passwd".into(),
        }
        .into();
        let text = error.to_string();
        assert!(
            text.starts_with("file: /etc/passwd is not a directory"),
            "{text}"
        );
    }
}
