//! Destination URLs: which store, which prefix, how they are shown (never with credentials),
//! and the store built from them.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use tracing::debug;
use url::Url;

use crate::error::{Error, Result};

/// The URL schemes this exporter takes, as `--to` values and `url` configs.
pub const SUPPORTED_SCHEMES: &[&str] =
    &["s3", "az", "abfs", "abfss", "azure", "gs", "file", "memory"];

/// Schemes whose URL user name is a container (`abfs://container@account.dfs.core.windows.net`).
const AZURE_SCHEMES: &[&str] = &["az", "abfs", "abfss", "azure"];

/// `s3://, az://, ...` for messages.
pub(crate) fn supported_list() -> String {
    SUPPORTED_SCHEMES
        .iter()
        .map(|scheme| format!("{scheme}://"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `destination` has a scheme this exporter takes (`s3://bucket/...`).
pub fn is_supported_url(destination: &str) -> bool {
    destination.split_once("://").is_some_and(|(scheme, _)| {
        SUPPORTED_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
    })
}

/// Which store a destination names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreKind {
    S3,
    Azure,
    Gcs,
    Local(PathBuf),
    Memory,
}

/// A parsed destination URL.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    /// The store.
    pub(crate) kind: StoreKind,
    /// The URL, checked free of credentials and fragments: what builders and names get.
    pub(crate) url: Url,
    /// The URL of the store's root, without a trailing `/`; objects are `<root>/<key>`.
    pub(crate) root: String,
    /// The key prefix inside the store.
    pub(crate) prefix: Path,
}

impl Destination {
    /// Parses `given`: a supported scheme, no credentials in the URL.
    pub(crate) fn parse(given: &str) -> Result<Self> {
        let url = Url::parse(given).map_err(|error| Error::InvalidUrl {
            url: redact(given),
            reason: format!("{error}; give e.g. s3://bucket/prefix/"),
        })?;
        let scheme = url.scheme().to_owned();
        if !SUPPORTED_SCHEMES.contains(&scheme.as_str()) {
            return Err(Error::UnsupportedScheme {
                url: redact(given),
                scheme,
            });
        }
        let azure = AZURE_SCHEMES.contains(&scheme.as_str());
        if url.password().is_some()
            || url.query().is_some()
            || (!url.username().is_empty() && !azure)
        {
            return Err(Error::CredentialsInUrl { url: redact(given) });
        }
        if url.fragment().is_some() {
            return Err(Error::InvalidUrl {
                url: redact(given),
                reason: "a destination has no #fragment".to_owned(),
            });
        }
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_owned(),
        };
        let prefix_of = |url: &Url| {
            Path::from_url_path(url.path()).map_err(|error| Error::InvalidUrl {
                url: url.to_string(),
                reason: format!("the path is not a valid object prefix: {error}"),
            })
        };
        let authority = &url[..url::Position::BeforePath];
        let (kind, root, prefix) = match scheme.as_str() {
            "file" => {
                let directory = url.to_file_path().map_err(|()| {
                    invalid("file:// takes an absolute local path, as file:///var/profiles/")
                })?;
                let root = format!("{authority}{}", url.path().trim_end_matches('/'));
                (StoreKind::Local(directory), root, Path::default())
            }
            "memory" => {
                if url.host_str().is_some_and(|host| !host.is_empty()) {
                    return Err(invalid(
                        "memory:// takes no host; give memory:/// or memory:///prefix/",
                    ));
                }
                (StoreKind::Memory, "memory://".to_owned(), prefix_of(&url)?)
            }
            _ => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "the bucket or container is missing; give e.g. s3://bucket/prefix/",
                    ));
                }
                let kind = match scheme.as_str() {
                    "s3" => StoreKind::S3,
                    "gs" => StoreKind::Gcs,
                    _ => StoreKind::Azure,
                };
                (kind, authority.to_owned(), prefix_of(&url)?)
            }
        };
        Ok(Self {
            kind,
            url,
            root,
            prefix,
        })
    }

    /// The store this destination names, configured from the environment and `options`
    /// (which win). Makes the directory of a `file://` destination if missing. No network.
    pub(crate) fn build_store(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn ObjectStore>> {
        let url = self.url.as_str();
        let store: Arc<dyn ObjectStore> = match &self.kind {
            StoreKind::S3 => {
                let mut builder = AmazonS3Builder::from_env().with_url(url);
                for (key, value) in options {
                    let key: AmazonS3ConfigKey = self.option_key(key, "S3", S3_EXAMPLE)?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(|source| Error::Configure {
                    url: url.to_owned(),
                    store: "S3",
                    hint: "the AWS_* environment variables (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_ENDPOINT, ...) and the `options`",
                    source: Box::new(source),
                })?)
            }
            StoreKind::Azure => {
                let mut builder = MicrosoftAzureBuilder::from_env().with_url(url);
                for (key, value) in options {
                    let key: AzureConfigKey = self.option_key(key, "Azure", AZURE_EXAMPLE)?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(|source| Error::Configure {
                    url: url.to_owned(),
                    store: "Azure",
                    hint: "AZURE_STORAGE_ACCOUNT_NAME and a credential (AZURE_STORAGE_ACCOUNT_KEY, ...), or the `options` azure_storage_account_name, azure_storage_account_key",
                    source: Box::new(source),
                })?)
            }
            StoreKind::Gcs => {
                let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url);
                for (key, value) in options {
                    let key: GoogleConfigKey = self.option_key(key, "GCS", GCS_EXAMPLE)?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(|source| Error::Configure {
                    url: url.to_owned(),
                    store: "GCS",
                    hint: "GOOGLE_SERVICE_ACCOUNT (a service account JSON file) or GOOGLE_APPLICATION_CREDENTIALS, or the `options` google_service_account",
                    source: Box::new(source),
                })?)
            }
            StoreKind::Local(directory) => {
                self.no_options(options, "file://")?;
                create_directory(directory)?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(directory).map_err(|source| {
                        Error::Configure {
                            url: url.to_owned(),
                            store: "local file system",
                            hint: "that the directory exists and is readable",
                            source: Box::new(source),
                        }
                    })?,
                )
            }
            StoreKind::Memory => {
                self.no_options(options, "memory://")?;
                Arc::new(InMemory::new())
            }
        };
        Ok(store)
    }

    fn option_key<K: std::str::FromStr>(
        &self,
        key: &str,
        store: &'static str,
        example: &'static str,
    ) -> Result<K> {
        key.to_ascii_lowercase()
            .parse()
            .map_err(|_| Error::UnknownOption {
                url: self.url.to_string(),
                store,
                key: key.to_owned(),
                example,
            })
    }

    fn no_options(&self, options: &BTreeMap<String, String>, scheme: &'static str) -> Result<()> {
        match options.keys().next() {
            None => Ok(()),
            Some(key) => Err(Error::UnknownOption {
                url: self.url.to_string(),
                store: scheme,
                key: key.clone(),
                example: "none: file:// and memory:// take no options",
            }),
        }
    }
}

const S3_EXAMPLE: &str = "aws_region, aws_endpoint, aws_allow_http, aws_access_key_id";
const AZURE_EXAMPLE: &str =
    "azure_storage_account_name, azure_storage_account_key, azure_storage_use_emulator";
const GCS_EXAMPLE: &str = "google_service_account, google_service_account_key";

/// Blocking: `directory` exists, created (mode 0700, parents too) if missing.
fn create_directory(directory: &FsPath) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if directory.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
        .map_err(|source| Error::LocalDirectory {
            path: directory.to_owned(),
            source,
        })?;
    debug!(directory = %directory.display(), "Profile directory created.");
    Ok(())
}

/// `given` without credentials: no password, no query, no fragment, and no user name except
/// an Azure container (`abfs://container@account...`). Unparsable text loses everything
/// between `://` and `@`, and from `?` or `#` on.
pub(crate) fn redact(given: &str) -> String {
    match Url::parse(given) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            if !AZURE_SCHEMES.contains(&url.scheme()) {
                let _ = url.set_username("");
            }
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => {
            let end = given.find(['?', '#']).unwrap_or(given.len());
            let text = &given[..end];
            match text.split_once("://") {
                Some((scheme, rest)) => {
                    let authority_end = rest.find('/').unwrap_or(rest.len());
                    match rest[..authority_end].rfind('@') {
                        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                        None => text.to_owned(),
                    }
                }
                None => text.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_scheme_gives_its_store_and_prefix() {
        let cases = [
            ("s3://bucket/a/b/", StoreKind::S3, "s3://bucket", "a/b"),
            ("az://container/p/", StoreKind::Azure, "az://container", "p"),
            (
                "abfs://container/",
                StoreKind::Azure,
                "abfs://container",
                "",
            ),
            (
                "abfss://fs@account.dfs.core.windows.net/p/",
                StoreKind::Azure,
                "abfss://fs@account.dfs.core.windows.net",
                "p",
            ),
            (
                "azure://container/p",
                StoreKind::Azure,
                "azure://container",
                "p",
            ),
            ("gs://bucket/p/", StoreKind::Gcs, "gs://bucket", "p"),
            ("memory:///", StoreKind::Memory, "memory://", ""),
            ("memory:///x/", StoreKind::Memory, "memory://", "x"),
            (
                "file:///var/profiles/",
                StoreKind::Local("/var/profiles/".into()),
                "file:///var/profiles",
                "",
            ),
        ];
        for (given, kind, root, prefix) in cases {
            let destination = Destination::parse(given).unwrap();
            assert_eq!(destination.kind, kind, "{given}");
            assert_eq!(destination.root, root, "{given}");
            assert_eq!(destination.prefix.as_ref(), prefix, "{given}");
        }
    }

    #[test]
    fn unsupported_schemes_list_the_supported_ones() {
        let error = Destination::parse("ftp://host/x").unwrap_err().to_string();
        assert!(
            error.contains("unsupported destination scheme ftp://; supported: s3://, az://"),
            "{error}"
        );
        assert!(error.contains("gs://, file://, memory://"), "{error}");
        assert!(is_supported_url("S3://bucket/x"));
        assert!(!is_supported_url("ftp://x"));
        assert!(!is_supported_url("./profiles"));
    }

    #[test]
    fn credentials_in_urls_are_refused_and_never_shown() {
        for given in [
            "s3://AKIAEXAMPLE:hunter2secret@bucket/p/",
            "s3://bucket/p/?X-Amz-Signature=hunter2secret",
            "az://container/p/?sig=hunter2secret",
            "abfs://fs:hunter2secret@account.dfs.core.windows.net/p",
            "gs://hunter2secret@bucket/p",
        ] {
            let error = Destination::parse(given).unwrap_err();
            assert!(
                matches!(error, Error::CredentialsInUrl { .. }),
                "{given}: {error}"
            );
            let text = error.to_string();
            assert!(!text.contains("hunter2secret"), "{text}");
            assert!(text.contains("AWS_*, AZURE_*, GOOGLE_*"), "{text}");
        }
        // Unparsable text is redacted by hand.
        let error = Destination::parse("s3://user:hunter2secret@[bad/x?k=hunter2secret")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2secret"), "{error}");
    }

    #[test]
    fn missing_buckets_and_relative_files_are_explained() {
        let error = Destination::parse("file://relative/dir")
            .unwrap_err()
            .to_string();
        assert!(error.contains("absolute local path"), "{error}");
        let error = Destination::parse("s3:///prefix").unwrap_err().to_string();
        assert!(error.contains("bucket or container is missing"), "{error}");
    }
}
