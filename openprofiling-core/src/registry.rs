//! The plugin registry: plugin crates submit a name and a constructor through `inventory`, and
//! a binary assembles reactions and exporters from JSON by linking the crates it wants.
//!
//! A binary must name every plugin crate it links (`use openprofiling_exporter_file as _;`),
//! or the linker may drop the crate and its registration with it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::exporter::Exporter;
use crate::inspector::InspectorSession;
use crate::profiler::Profiler;
use crate::trigger::Trigger;
use crate::{Error, Result};

/// What a plugin's constructor is given besides its configuration.
#[derive(Debug, Clone, Default)]
pub struct PluginContext {
    session: Option<InspectorSession>,
    shutdown: CancellationToken,
}

impl PluginContext {
    /// A context with no session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shares `session` with the plugins built in this context.
    #[must_use]
    pub fn with_session(mut self, session: InspectorSession) -> Self {
        self.session = Some(session);
        self
    }

    /// Uses `shutdown` as the token plugins watch for the agent's shutdown.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The shared inspector session, if the binary opened one.
    pub fn session(&self) -> Option<&InspectorSession> {
        self.session.as_ref()
    }

    /// The shared inspector session, or an error naming the plugin that needs one.
    pub fn require_session(&self, plugin: &str) -> Result<InspectorSession> {
        self.session.clone().ok_or_else(|| Error::Config {
            plugin: plugin.to_owned(),
            source: "this plugin needs an inspector session; give the agent a target".into(),
        })
    }

    /// Cancelled when the agent shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

/// Builds a plugin from its JSON configuration.
pub type BuildFn<T> = fn(&Value, &PluginContext) -> Result<T>;

/// One registered plugin of role `T` (`Box<dyn Trigger>`, `Arc<dyn Profiler>`, ...).
#[derive(Debug)]
pub struct Plugin<T: 'static> {
    /// The name configurations use (`"type": "signal"`).
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// The configuration keys it accepts, for `openprofiling plugins`.
    pub config_keys: &'static [&'static str],
    /// The constructor.
    pub build: BuildFn<T>,
}

/// A registered trigger.
pub type TriggerPlugin = Plugin<Box<dyn Trigger>>;
/// A registered profiler.
pub type ProfilerPlugin = Plugin<Arc<dyn Profiler>>;
/// A registered exporter.
pub type ExporterPlugin = Plugin<Arc<dyn Exporter>>;

/// Submission wrappers: inventory collects concrete types, one per role.
#[doc(hidden)]
#[derive(Debug)]
pub struct TriggerSubmission(pub TriggerPlugin);
#[doc(hidden)]
#[derive(Debug)]
pub struct ProfilerSubmission(pub ProfilerPlugin);
#[doc(hidden)]
#[derive(Debug)]
pub struct ExporterSubmission(pub ExporterPlugin);

inventory::collect!(TriggerSubmission);
inventory::collect!(ProfilerSubmission);
inventory::collect!(ExporterSubmission);

/// Registers a trigger plugin: `register_trigger!(name: "signal", description: "...",
/// config_keys: ["signal"], build: build_fn);` where `build_fn` is a
/// `fn(&serde_json::Value, &PluginContext) -> Result<Box<dyn Trigger>>`.
#[macro_export]
macro_rules! register_trigger {
    (name: $name:expr, description: $description:expr, config_keys: [$($key:expr),* $(,)?], build: $build:expr $(,)?) => {
        $crate::__inventory::submit! {
            $crate::registry::TriggerSubmission($crate::registry::Plugin {
                name: $name, description: $description, config_keys: &[$($key),*], build: $build,
            })
        }
    };
}

/// Registers a profiler plugin; same shape as [`register_trigger!`], the constructor returns
/// `Result<Arc<dyn Profiler>>`.
#[macro_export]
macro_rules! register_profiler {
    (name: $name:expr, description: $description:expr, config_keys: [$($key:expr),* $(,)?], build: $build:expr $(,)?) => {
        $crate::__inventory::submit! {
            $crate::registry::ProfilerSubmission($crate::registry::Plugin {
                name: $name, description: $description, config_keys: &[$($key),*], build: $build,
            })
        }
    };
}

/// Registers an exporter plugin; same shape as [`register_trigger!`], the constructor returns
/// `Result<Arc<dyn Exporter>>`.
#[macro_export]
macro_rules! register_exporter {
    (name: $name:expr, description: $description:expr, config_keys: [$($key:expr),* $(,)?], build: $build:expr $(,)?) => {
        $crate::__inventory::submit! {
            $crate::registry::ExporterSubmission($crate::registry::Plugin {
                name: $name, description: $description, config_keys: &[$($key),*], build: $build,
            })
        }
    };
}

/// Every plugin linked into this binary, by role and name.
#[derive(Debug)]
pub struct Registry {
    triggers: BTreeMap<&'static str, &'static TriggerPlugin>,
    profilers: BTreeMap<&'static str, &'static ProfilerPlugin>,
    exporters: BTreeMap<&'static str, &'static ExporterPlugin>,
}

impl Registry {
    /// The registry of this binary, built once from what the linked crates submitted.
    /// Fails (every time) if two plugins of one role share a name.
    pub fn global() -> Result<&'static Registry> {
        static GLOBAL: OnceLock<std::result::Result<Registry, (&'static str, String)>> =
            OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                Registry::from_plugins(
                    inventory::iter::<TriggerSubmission>
                        .into_iter()
                        .map(|s| &s.0),
                    inventory::iter::<ProfilerSubmission>
                        .into_iter()
                        .map(|s| &s.0),
                    inventory::iter::<ExporterSubmission>
                        .into_iter()
                        .map(|s| &s.0),
                )
                .map_err(|error| match error {
                    Error::DuplicatePlugin { kind, name } => (kind, name),
                    other => ("plugin", other.to_string()),
                })
            })
            .as_ref()
            .map_err(|(kind, name)| Error::DuplicatePlugin {
                kind,
                name: name.clone(),
            })
    }

    /// A registry of the given plugins; rejects duplicate names within a role.
    pub fn from_plugins(
        triggers: impl IntoIterator<Item = &'static TriggerPlugin>,
        profilers: impl IntoIterator<Item = &'static ProfilerPlugin>,
        exporters: impl IntoIterator<Item = &'static ExporterPlugin>,
    ) -> Result<Self> {
        Ok(Self {
            triggers: index("trigger", triggers)?,
            profilers: index("profiler", profilers)?,
            exporters: index("exporter", exporters)?,
        })
    }

    /// Trigger plugins, sorted by name.
    pub fn triggers(&self) -> impl Iterator<Item = &'static TriggerPlugin> + '_ {
        self.triggers.values().copied()
    }

    /// Profiler plugins, sorted by name.
    pub fn profilers(&self) -> impl Iterator<Item = &'static ProfilerPlugin> + '_ {
        self.profilers.values().copied()
    }

    /// Exporter plugins, sorted by name.
    pub fn exporters(&self) -> impl Iterator<Item = &'static ExporterPlugin> + '_ {
        self.exporters.values().copied()
    }

    /// Builds the trigger `name` from `config`.
    pub fn build_trigger(
        &self,
        name: &str,
        config: &Value,
        context: &PluginContext,
    ) -> Result<Box<dyn Trigger>> {
        build("trigger", &self.triggers, name, config, context)
    }

    /// Builds the profiler `name` from `config`.
    pub fn build_profiler(
        &self,
        name: &str,
        config: &Value,
        context: &PluginContext,
    ) -> Result<Arc<dyn Profiler>> {
        build("profiler", &self.profilers, name, config, context)
    }

    /// Builds the exporter `name` from `config`.
    pub fn build_exporter(
        &self,
        name: &str,
        config: &Value,
        context: &PluginContext,
    ) -> Result<Arc<dyn Exporter>> {
        build("exporter", &self.exporters, name, config, context)
    }
}

fn index<T: 'static>(
    kind: &'static str,
    plugins: impl IntoIterator<Item = &'static Plugin<T>>,
) -> Result<BTreeMap<&'static str, &'static Plugin<T>>> {
    let mut map = BTreeMap::new();
    for plugin in plugins {
        if map.insert(plugin.name, plugin).is_some() {
            return Err(Error::DuplicatePlugin {
                kind,
                name: plugin.name.to_owned(),
            });
        }
    }
    Ok(map)
}

fn build<T: 'static>(
    kind: &'static str,
    plugins: &BTreeMap<&'static str, &'static Plugin<T>>,
    name: &str,
    config: &Value,
    context: &PluginContext,
) -> Result<T> {
    let plugin = plugins.get(name).ok_or_else(|| Error::UnknownPlugin {
        kind,
        name: name.to_owned(),
        known: plugins.keys().map(|name| (*name).to_owned()).collect(),
    })?;
    (plugin.build)(config, context)
}

/// Parses a plugin's JSON configuration into its config struct, as a [`Error::Config`] naming
/// the plugin when it does not fit (`#[serde(deny_unknown_fields)]` makes unknown keys errors).
pub fn parse_config<C: serde::de::DeserializeOwned>(plugin: &str, config: &Value) -> Result<C> {
    let config = if config.is_null() {
        &Value::Object(serde_json::Map::new())
    } else {
        config
    };
    C::deserialize(config).map_err(|error| Error::Config {
        plugin: plugin.to_owned(),
        source: error.into(),
    })
}
