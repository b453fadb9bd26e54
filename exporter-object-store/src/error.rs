//! The error type of the `object-store` exporter.

use std::io;
use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong sending a profile to an object store. Each message names the URL (never
/// with credentials) and, where there is one, what to check.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination's scheme is not one this exporter handles.
    #[error(
        "{url}: unsupported destination scheme {scheme}://; supported: {}",
        crate::destination::supported_list()
    )]
    UnsupportedScheme {
        /// The destination, without credentials.
        url: String,
        /// The scheme given.
        scheme: String,
    },

    /// The destination is not a usable URL.
    #[error("invalid destination URL {url}: {reason}")]
    InvalidUrl {
        /// The destination, without credentials.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The URL carries credentials (a password, a user name, a query string); they are refused
    /// so they never end up in logs, names or receipts.
    #[error(
        "{url}: credentials in the URL (user, password or ?query) are refused; give them through the environment (AWS_*, AZURE_*, GOOGLE_*) or the exporter's `options`"
    )]
    CredentialsInUrl {
        /// The destination, credentials removed.
        url: String,
    },

    /// An option key is not one the store accepts.
    #[error(
        "{url}: unknown {store} option {key:?}; give object_store's config keys ({example}, ...)"
    )]
    UnknownOption {
        /// The destination.
        url: String,
        /// The store kind (`S3`, `Azure`, ...).
        store: &'static str,
        /// The key given.
        key: String,
        /// Examples of valid keys.
        example: &'static str,
    },

    /// A configuration value is out of bounds.
    #[error("{reason}")]
    InvalidConfig {
        /// What is wrong, and what to give instead.
        reason: String,
    },

    /// The store's client could not be configured (missing account, bad option value, ...).
    #[error("{url}: cannot configure the {store} client: {source} (check {hint})")]
    Configure {
        /// The destination.
        url: String,
        /// The store kind.
        store: &'static str,
        /// What to check.
        hint: &'static str,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// The local directory of a `file://` destination could not be created.
    #[error("cannot create the profile directory {}: {source}", path.display())]
    LocalDirectory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// The bucket or container does not exist (or the endpoint or region is wrong).
    #[error(
        "cannot upload {url}: the bucket or container was not found ({source}); create it, or check the URL, the region and the endpoint (aws_region, aws_endpoint, azure_storage_account_name)"
    )]
    NotFound {
        /// The object's URL.
        url: String,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// The credentials were accepted but may not write there.
    #[error(
        "cannot upload {url}: access denied ({source}); give the credentials permission to write objects under that prefix (e.g. s3:PutObject, Storage Blob Data Contributor, storage.objects.create)"
    )]
    AccessDenied {
        /// The object's URL.
        url: String,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// The credentials were refused (missing, wrong or expired).
    #[error(
        "cannot upload {url}: the credentials were refused ({source}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_ACCOUNT_KEY, GOOGLE_SERVICE_ACCOUNT or the exporter's `options`"
    )]
    Unauthenticated {
        /// The object's URL.
        url: String,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// Starting, uploading a part of, or completing the upload failed.
    #[error(
        "cannot upload {url}{}: {source}{}",
        part.map(|p| format!(" (part {p})")).unwrap_or_default(),
        root_cause(source.as_ref())
    )]
    Upload {
        /// The object's URL.
        url: String,
        /// The part that failed, numbered from 1, when a part failed.
        part: Option<usize>,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// The multipart upload of a failed profile could not be aborted.
    #[error(
        "cannot abort the upload of {url}: {source} (uploaded parts may remain and be billed; an AbortIncompleteMultipartUpload lifecycle rule removes them)"
    )]
    Abort {
        /// The object's URL.
        url: String,
        /// object_store's error.
        source: Box<object_store::Error>,
    },

    /// Gzip compression failed.
    #[error("cannot compress {url}: {source}")]
    Compress {
        /// The object's URL.
        url: String,
        /// The I/O error.
        source: io::Error,
    },

    /// The sink was asked to publish a profile that did not succeed; its upload was aborted
    /// instead, so no object claims `status = success` for it.
    #[error(
        "refusing to publish {url}: the profile's status is {status}, not success; its upload was aborted (call abort for a failed profile)"
    )]
    NotSuccessful {
        /// The object's URL.
        url: String,
        /// The profile's status, as shown.
        status: String,
    },

    /// The metadata sidecar's JSON could not be encoded.
    #[error("cannot encode the metadata sidecar {url}: {source}")]
    EncodeSidecar {
        /// The sidecar's URL.
        url: String,
        /// serde_json's error.
        source: serde_json::Error,
    },

    /// The sink was used after it finished or aborted.
    #[error("the upload of {url} was already closed")]
    Closed {
        /// The object's URL.
        url: String,
    },
}

impl Error {
    /// The error for `source`, met uploading `url` (in part `part`, if known): not found,
    /// access denied and refused credentials get their own messages.
    pub(crate) fn upload(url: &str, part: Option<usize>, source: object_store::Error) -> Self {
        let url = url.to_owned();
        let source = Box::new(source);
        match *source {
            object_store::Error::NotFound { .. } => Self::NotFound { url, source },
            // A 403 that says the key or signature is wrong is refused credentials, not a
            // missing permission (S3 and Azure answer both with 403).
            object_store::Error::PermissionDenied { .. } if refused_key(&source) => {
                Self::Unauthenticated { url, source }
            }
            object_store::Error::PermissionDenied { .. } => Self::AccessDenied { url, source },
            object_store::Error::Unauthenticated { .. } => Self::Unauthenticated { url, source },
            _ => Self::Upload { url, part, source },
        }
    }
}

/// The store's 403 names a wrong key or signature (S3's `SignatureDoesNotMatch` and
/// `InvalidAccessKeyId`, Azure's `AuthenticationFailed`).
fn refused_key(source: &object_store::Error) -> bool {
    let text = source.to_string();
    [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthenticationFailed",
    ]
    .iter()
    .any(|code| text.contains(code))
}

impl From<Error> for openprofiling_core::Error {
    fn from(error: Error) -> Self {
        openprofiling_core::Error::plugin(crate::PLUGIN_NAME, error)
    }
}

/// The innermost cause of `error` when its message does not show it already, as
/// ` (cause: connection refused (os error 111))`: object_store's HTTP errors say only "error
/// sending request", and the reason a person can act on is several sources down.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let cause = innermost.to_string();
    if std::ptr::addr_eq(innermost, error) || error.to_string().contains(&cause) {
        String::new()
    } else {
        format!(" (cause: {cause})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error(kind: &str) -> object_store::Error {
        let source = "403 Forbidden".into();
        let path = "profiles/x".to_owned();
        match kind {
            "not found" => object_store::Error::NotFound { path, source },
            "denied" => object_store::Error::PermissionDenied { path, source },
            "unauthenticated" => object_store::Error::Unauthenticated { path, source },
            _ => object_store::Error::Generic {
                store: "S3",
                source,
            },
        }
    }

    #[test]
    fn a_missing_bucket_says_what_to_check() {
        let text =
            Error::upload("s3://nope/x.heapsnapshot", None, store_error("not found")).to_string();
        assert!(text.contains("s3://nope/x.heapsnapshot"), "{text}");
        assert!(text.contains("bucket or container was not found"), "{text}");
        assert!(text.contains("check the URL, the region"), "{text}");
    }

    #[test]
    fn refused_credentials_say_where_credentials_come_from() {
        let text = Error::upload("az://c/x", Some(1), store_error("unauthenticated")).to_string();
        assert!(text.contains("credentials were refused"), "{text}");
        assert!(text.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{text}");
        let text = Error::upload("az://c/x", Some(1), store_error("denied")).to_string();
        assert!(text.contains("access denied"), "{text}");
        let wrong_key = object_store::Error::PermissionDenied {
            path: "x".into(),
            source: "403 Forbidden: <Code>SignatureDoesNotMatch</Code>".into(),
        };
        let text = Error::upload("s3://b/x", None, wrong_key).to_string();
        assert!(text.contains("credentials were refused"), "{text}");
    }

    #[test]
    fn other_failures_name_the_part() {
        let text = Error::upload("gs://b/x", Some(3), store_error("other")).to_string();
        assert!(
            text.starts_with("cannot upload gs://b/x (part 3): "),
            "{text}"
        );
    }

    #[test]
    fn plugin_errors_name_the_plugin() {
        let error: openprofiling_core::Error = Error::Closed {
            url: "memory:///x".into(),
        }
        .into();
        assert!(error.to_string().starts_with("object-store: "), "{error}");
    }

    #[test]
    fn an_upload_error_names_its_innermost_cause() {
        /// As an HTTP client's error: a vague message, the reason in its source.
        #[derive(Debug)]
        struct Sending(std::io::Error);
        impl std::fmt::Display for Sending {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Sending {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let upload = |source: Box<dyn std::error::Error + Send + Sync>| Error::Upload {
            url: "s3://bucket/key".to_owned(),
            part: Some(4),
            source: Box::new(object_store::Error::Generic {
                store: "S3",
                source,
            }),
        };
        let text = upload(Box::new(Sending(refused))).to_string();
        assert_eq!(
            text,
            "cannot upload s3://bucket/key (part 4): Generic S3 error: error sending request (cause: connection refused)"
        );
        // A cause the message already shows is not repeated.
        let plain = std::io::Error::other("disk on fire");
        let text = upload(Box::new(plain)).to_string();
        assert!(text.ends_with("Generic S3 error: disk on fire"), "{text}");
    }
}
