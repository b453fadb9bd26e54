//! The plugin registry: macros, lookup, unknown names, duplicates, config errors.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use async_trait::async_trait;
use openprofiling_core::registry::{ExporterPlugin, ProfilerPlugin, TriggerPlugin, parse_config};
use openprofiling_core::{
    Error, ExportSink, Exporter, PluginContext, ProfileKind, ProfileMetadata, ProfileWriter,
    Profiler, Registry, Result, TargetInfo, Trigger, TriggerEvents,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct NeverTrigger;

#[async_trait]
impl Trigger for NeverTrigger {
    fn name(&self) -> String {
        "never".into()
    }
    async fn run(&self, _events: TriggerEvents, shutdown: CancellationToken) -> Result<()> {
        shutdown.cancelled().await;
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyConfig {
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug)]
struct EmptyProfiler(Option<String>);

#[async_trait]
impl Profiler for EmptyProfiler {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapSnapshot
    }
    fn target(&self) -> TargetInfo {
        TargetInfo {
            title: self.0.clone(),
            ..TargetInfo::default()
        }
    }
    async fn collect(&self, _writer: &mut ProfileWriter) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct NowhereExporter;

#[async_trait]
impl Exporter for NowhereExporter {
    fn name(&self) -> String {
        "nowhere".into()
    }
    async fn begin(&self, _profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        Err(Error::plugin("nowhere", "goes nowhere"))
    }
}

fn build_trigger(_config: &Value, _context: &PluginContext) -> Result<Box<dyn Trigger>> {
    Ok(Box::new(NeverTrigger))
}

fn build_profiler(config: &Value, _context: &PluginContext) -> Result<Arc<dyn Profiler>> {
    let config: EmptyConfig = parse_config("test-profiler", config)?;
    Ok(Arc::new(EmptyProfiler(config.label)))
}

fn build_exporter(_config: &Value, _context: &PluginContext) -> Result<Arc<dyn Exporter>> {
    Ok(Arc::new(NowhereExporter))
}

openprofiling_core::register_trigger!(
    name: "test-trigger",
    description: "never fires",
    config_keys: [],
    build: build_trigger,
);
openprofiling_core::register_profiler!(
    name: "test-profiler",
    description: "writes nothing",
    config_keys: ["label"],
    build: build_profiler,
);
openprofiling_core::register_profiler!(
    name: "another-profiler",
    description: "writes nothing either",
    config_keys: ["label"],
    build: build_profiler,
);
openprofiling_core::register_exporter!(
    name: "test-exporter",
    description: "exports nowhere",
    config_keys: [],
    build: build_exporter,
);

#[test]
fn plugins_submitted_through_the_macros_are_listed_sorted() {
    let registry = Registry::global().unwrap();
    let triggers: Vec<_> = registry.triggers().map(|p| p.name).collect();
    let profilers: Vec<_> = registry.profilers().map(|p| p.name).collect();
    let exporters: Vec<_> = registry.exporters().map(|p| p.name).collect();
    assert_eq!(triggers, ["test-trigger"]);
    assert_eq!(profilers, ["another-profiler", "test-profiler"]);
    assert_eq!(exporters, ["test-exporter"]);
    let profiler = registry
        .profilers()
        .find(|p| p.name == "test-profiler")
        .unwrap();
    assert_eq!(profiler.config_keys, ["label"]);
}

#[test]
fn plugins_are_built_from_json_config() {
    let registry = Registry::global().unwrap();
    let context = PluginContext::new();
    let trigger = registry
        .build_trigger("test-trigger", &Value::Null, &context)
        .unwrap();
    assert_eq!(trigger.name(), "never");
    let profiler = registry
        .build_profiler("test-profiler", &json!({"label": "x"}), &context)
        .unwrap();
    assert_eq!(profiler.kind(), ProfileKind::HeapSnapshot);
    assert!(
        format!("{profiler:?}").contains("\"x\""),
        "the config reached the plugin"
    );
    let exporter = registry
        .build_exporter("test-exporter", &json!({}), &context)
        .unwrap();
    assert_eq!(exporter.name(), "nowhere");
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let registry = Registry::global().unwrap();
    let error = registry
        .build_profiler("cpu-profile", &json!({}), &PluginContext::new())
        .unwrap_err();
    match &error {
        Error::UnknownPlugin { kind, name, known } => {
            assert_eq!(*kind, "profiler");
            assert_eq!(name, "cpu-profile");
            assert_eq!(known, &["another-profiler", "test-profiler"]);
        }
        other => panic!("expected UnknownPlugin, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("another-profiler, test-profiler"),
        "{message}"
    );
    assert!(message.contains("linked"), "{message}");
}

#[test]
fn unknown_config_keys_name_the_plugin() {
    let registry = Registry::global().unwrap();
    let error = registry
        .build_profiler(
            "test-profiler",
            &json!({"lable": "typo"}),
            &PluginContext::new(),
        )
        .unwrap_err();
    assert!(matches!(&error, Error::Config { plugin, .. } if plugin == "test-profiler"));
    let message = error.to_string();
    assert!(
        message.contains("lable") && message.contains("label"),
        "{message}"
    );
}

#[test]
fn a_plugin_needing_a_session_says_so() {
    let error = PluginContext::new()
        .require_session("heapsnapshot")
        .unwrap_err();
    assert!(
        error.to_string().contains("needs an inspector session"),
        "{error}"
    );
}

static DUPLICATE_A: TriggerPlugin = TriggerPlugin {
    name: "same",
    description: "a",
    config_keys: &[],
    build: build_trigger,
};
static DUPLICATE_B: TriggerPlugin = TriggerPlugin {
    name: "same",
    description: "b",
    config_keys: &[],
    build: build_trigger,
};

#[test]
fn duplicate_names_are_rejected() {
    let error = Registry::from_plugins(
        [&DUPLICATE_A, &DUPLICATE_B],
        std::iter::empty::<&'static ProfilerPlugin>(),
        std::iter::empty::<&'static ExporterPlugin>(),
    )
    .unwrap_err();
    match error {
        Error::DuplicatePlugin { kind, name } => {
            assert_eq!(kind, "trigger");
            assert_eq!(name, "same");
        }
        other => panic!("expected DuplicatePlugin, got {other:?}"),
    }
}
