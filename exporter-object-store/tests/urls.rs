//! Destination URLs: every scheme builds without network, unsupported ones are explained,
//! credentials never show, and the registry builds the exporter by name.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use object_store::memory::InMemory;
use openprofiling_core::{Exporter, PluginContext, Registry};
use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};

fn config(url: &str, options: &[(&str, &str)]) -> ObjectStoreExporterConfig {
    let mut config = ObjectStoreExporterConfig::new(url);
    for (key, value) in options {
        config.options.insert((*key).into(), (*value).into());
    }
    config
}

fn build(url: &str, options: &[(&str, &str)]) -> Result<ObjectStoreExporter, String> {
    ObjectStoreExporter::from_config(config(url, options)).map_err(|error| error.to_string())
}

const AZURE: &[(&str, &str)] = &[
    ("azure_storage_account_name", "devstoreaccount1"),
    ("azure_storage_account_key", "ZHVtbXkga2V5IGZvciB0ZXN0cw=="),
];

#[test]
fn every_cloud_scheme_builds_without_network() {
    let s3 = build(
        "s3://bucket/profiles/",
        &[
            ("aws_region", "eu-west-1"),
            ("aws_access_key_id", "AKIDEXAMPLE"),
            ("aws_secret_access_key", "hunter2secret"),
            ("aws_endpoint", "http://127.0.0.1:1"),
            ("aws_allow_http", "true"),
        ],
    )
    .unwrap();
    assert_eq!(s3.name(), "object-store s3://bucket/profiles/");
    assert!(!format!("{s3:?}").contains("hunter2secret"));

    for url in [
        "az://container/p/",
        "abfs://container/p/",
        "abfss://fs@devstoreaccount1.dfs.core.windows.net/p/",
        "azure://container/p/",
    ] {
        let exporter = build(url, AZURE).unwrap();
        assert_eq!(exporter.name(), format!("object-store {url}"));
    }

    // No credentials: the client builds and would ask the instance metadata server at the
    // first upload; that failure is an upload error (tested against servers, not here).
    if std::env::var_os("GOOGLE_SERVICE_ACCOUNT").is_none()
        && std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_none()
    {
        let gs = build("gs://bucket/p/", &[]).unwrap();
        assert_eq!(gs.name(), "object-store gs://bucket/p/");
    }
}

#[test]
fn a_gcs_service_account_that_cannot_be_read_is_a_clear_config_error() {
    let error = build(
        "gs://bucket/p/",
        &[(
            "google_service_account",
            "/nonexistent/service-account.json",
        )],
    )
    .unwrap_err();
    assert!(
        error.starts_with("gs://bucket/p/: cannot configure the GCS client: "),
        "{error}"
    );
    assert!(error.contains("GOOGLE_SERVICE_ACCOUNT"), "{error}");
}

#[test]
fn azure_without_an_account_says_which_setting_is_missing() {
    if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_some() {
        return;
    }
    let error = build("az://container/p/", &[]).unwrap_err();
    assert!(
        error.contains("cannot configure the Azure client"),
        "{error}"
    );
    assert!(error.contains("AZURE_STORAGE_ACCOUNT_NAME"), "{error}");
}

#[test]
fn unknown_options_and_schemes_are_explained() {
    let error = build("s3://bucket/", &[("aws_bucket_colour", "red")]).unwrap_err();
    assert!(
        error.contains("unknown S3 option \"aws_bucket_colour\""),
        "{error}"
    );
    assert!(error.contains("aws_endpoint"), "{error}");
    let error = build("memory:///", &[("aws_region", "x")]).unwrap_err();
    assert!(error.contains("take no options"), "{error}");

    let error = ObjectStoreExporter::new("ftp://host/x")
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "ftp://host/x: unsupported destination scheme ftp://; supported: s3://, az://, abfs://, abfss://, azure://, gs://, file://, memory://"
    );
    let error = ObjectStoreExporter::new("not a url")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid destination URL not a url: "),
        "{error}"
    );
}

#[test]
fn credentials_never_show_in_names_or_errors() {
    for url in [
        "s3://AKIDEXAMPLE:hunter2secret@bucket/p/",
        "s3://bucket/p/?X-Amz-Credential=hunter2secret",
        "az://container/p/?sv=2024&sig=hunter2secret",
    ] {
        let error = ObjectStoreExporter::new(url).unwrap_err().to_string();
        assert!(!error.contains("hunter2secret"), "{error}");
        assert!(error.contains("credentials in the URL"), "{error}");
    }
    let exporter = ObjectStoreExporter::with_store(
        Arc::new(InMemory::new()),
        "p",
        "s3://AKIDEXAMPLE:hunter2secret@bucket/?token=hunter2secret",
    );
    assert_eq!(exporter.name(), "object-store s3://bucket/p/");
    assert!(!format!("{exporter:?}").contains("hunter2secret"));
}

#[test]
fn the_registry_lists_and_builds_the_exporter() {
    let registry = Registry::global().unwrap();
    let plugin = registry
        .exporters()
        .find(|plugin| plugin.name == "object-store")
        .expect("the object-store exporter registers");
    assert_eq!(
        plugin.config_keys,
        [
            "url",
            "gzip",
            "options",
            "part_size_mib",
            "parts_in_flight",
            "sidecar"
        ]
    );

    let context = PluginContext::new();
    let exporter = registry
        .build_exporter(
            "object-store",
            &serde_json::json!({"url": "memory:///profiles/", "gzip": true}),
            &context,
        )
        .unwrap();
    assert_eq!(exporter.name(), "object-store memory:///profiles/");
    registry
        .build_exporter(
            "object-store",
            &serde_json::json!({"url": "memory:///", "sidecar": false}),
            &context,
        )
        .expect("`sidecar` is a config key");

    let error = registry
        .build_exporter(
            "object-store",
            &serde_json::json!({"url": "memory:///", "part_size_mib": 1}),
            &context,
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("part_size_mib is 1"), "{error}");
    let error = registry
        .build_exporter("object-store", &serde_json::json!({}), &context)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `url`"), "{error}");
}
