//! The agent's JSON configuration: a target, reactions (a trigger and a profiler each), and
//! exporters, each plugin named by `type` and configured by its other keys.
//!
//! ```json
//! { "target": { "inspect": "127.0.0.1:9229" },
//!   "reactions": [
//!     { "trigger": { "type": "signal", "signal": "SIGUSR1" }, "profiler": { "type": "heapsnapshot" } } ],
//!   "exporters": [ { "type": "file", "path": "./profiles" } ] }
//! ```

use std::fmt;
use std::path::Path;

use anyhow::{Context, bail};
use openprofiling_core::registry::Plugin;
use openprofiling_core::{PluginContext, Registry, TargetSpec};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentConfig {
    /// The program to profile.
    pub(crate) target: TargetConfig,
    /// What to profile and when.
    pub(crate) reactions: Vec<ReactionConfig>,
    /// Where every profile goes.
    pub(crate) exporters: Vec<PluginConfig>,
}

/// Where the program to profile is: exactly one of `inspect`, `ws`, `pid`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetConfig {
    /// The inspector's `HOST:PORT`.
    inspect: Option<String>,
    /// The inspector's WebSocket URL.
    ws: Option<String>,
    /// A running Node process, its inspector switched on with SIGUSR1.
    pid: Option<u32>,
    /// With `pid`: the port its inspector listens on, if not Node's default.
    port: Option<u16>,
    /// Allows an inspector on a host other than loopback.
    #[serde(default)]
    pub(crate) allow_remote: bool,
}

/// One trigger driving one profiler.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReactionConfig {
    /// When.
    pub(crate) trigger: PluginConfig,
    /// What.
    pub(crate) profiler: PluginConfig,
}

/// A plugin object: its `type` (the registered name) and the rest of its keys, its own
/// configuration.
#[derive(Debug, Clone)]
pub(crate) struct PluginConfig {
    /// The plugin's registered name.
    pub(crate) kind: String,
    /// Every key but `type`.
    pub(crate) config: Value,
}

impl<'de> Deserialize<'de> for PluginConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = Map::<String, Value>::deserialize(deserializer)?;
        let kind = match object.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "`type` must be a plugin name (a string), not {other}"
                )));
            }
            None => {
                return Err(serde::de::Error::custom(
                    "a plugin object needs a `type` naming the plugin (see `openprofiling plugins`)",
                ));
            }
        };
        Ok(Self {
            kind,
            config: Value::Object(object),
        })
    }
}

/// Which role a plugin object plays, for messages.
#[derive(Debug, Clone, Copy)]
enum Role {
    Trigger,
    Profiler,
    Exporter,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trigger => "trigger",
            Self::Profiler => "profiler",
            Self::Exporter => "exporter",
        })
    }
}

impl AgentConfig {
    /// Reads, parses and checks the file against the plugins linked into this binary.
    pub(crate) fn load(path: &Path, registry: &Registry) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the agent configuration {}", path.display()))?;
        let config: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid agent configuration", path.display()))?;
        config
            .check(registry)
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    /// Every plugin exists and takes the keys it is given; triggers and exporters, which need
    /// no target, are built once now so a wrong value is reported before any attach.
    pub(crate) fn check(&self, registry: &Registry) -> anyhow::Result<()> {
        self.target.spec()?;
        if self.reactions.is_empty() {
            bail!("`reactions` is empty: give at least one trigger and profiler");
        }
        if self.exporters.is_empty() {
            bail!("`exporters` is empty: give at least one, or profiles would go nowhere");
        }
        let context = PluginContext::new();
        for (index, reaction) in self.reactions.iter().enumerate() {
            let at = |role| format!("reactions[{index}].{role}");
            let trigger = &reaction.trigger;
            check_keys(registry.triggers(), Role::Trigger, trigger).context(at("trigger"))?;
            registry
                .build_trigger(&trigger.kind, &trigger.config, &context)
                .context(at("trigger"))?;
            check_keys(registry.profilers(), Role::Profiler, &reaction.profiler)
                .context(at("profiler"))?;
        }
        for (index, exporter) in self.exporters.iter().enumerate() {
            let at = format!("exporters[{index}]");
            check_keys(registry.exporters(), Role::Exporter, exporter).context(at.clone())?;
            registry
                .build_exporter(&exporter.kind, &exporter.config, &context)
                .context(at)?;
        }
        Ok(())
    }
}

impl TargetConfig {
    /// The target as discovery takes it.
    pub(crate) fn spec(&self) -> anyhow::Result<TargetSpec> {
        match (&self.inspect, &self.ws, self.pid) {
            (Some(address), None, None) if self.port.is_none() => {
                Ok(TargetSpec::parse_inspect(address)?)
            }
            (None, Some(url), None) if self.port.is_none() => {
                Ok(TargetSpec::WebSocket(url.clone()))
            }
            (None, None, Some(pid)) => Ok(TargetSpec::Pid {
                pid,
                port: self.port,
            }),
            (None, None, None) => bail!(
                "`target` names no program: give one of \"inspect\": \"HOST:PORT\", \"ws\": \"ws://…\", \"pid\": PID"
            ),
            _ if self.port.is_some() && self.pid.is_none() => {
                bail!("`target.port` goes with `pid` only; put the port in `inspect`")
            }
            _ => bail!("`target` names several programs: give only one of `inspect`, `ws`, `pid`"),
        }
    }
}

/// The plugin is registered for its role and every key is one it declares.
fn check_keys<T: 'static>(
    plugins: impl Iterator<Item = &'static Plugin<T>>,
    role: Role,
    given: &PluginConfig,
) -> anyhow::Result<()> {
    let plugins: Vec<_> = plugins.collect();
    let Some(plugin) = plugins.iter().find(|plugin| plugin.name == given.kind) else {
        let known: Vec<_> = plugins.iter().map(|plugin| plugin.name).collect();
        bail!(
            "unknown {role} type {:?}; this binary has: {}",
            given.kind,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let Some(object) = given.config.as_object() else {
        return Ok(());
    };
    for key in object.keys() {
        if !plugin.config_keys.contains(&key.as_str()) {
            bail!(
                "unknown key {key:?} for the {role} {:?}; it takes: {}",
                plugin.name,
                if plugin.config_keys.is_empty() {
                    "no keys".to_owned()
                } else {
                    plugin.config_keys.join(", ")
                }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<AgentConfig> {
        Ok(serde_json::from_str(text)?)
    }

    #[test]
    fn the_documented_shape_parses() {
        let config = parse(
            r#"{ "target": { "inspect": "127.0.0.1:9229" },
                 "reactions": [
                   { "trigger": { "type": "signal", "signal": "SIGUSR1" }, "profiler": { "type": "heapsnapshot" } },
                   { "trigger": { "type": "signal", "signal": "SIGUSR2" }, "profiler": { "type": "cpu-profile" } } ],
                 "exporters": [ { "type": "file", "path": "./profiles" } ] }"#,
        )
        .expect("valid");
        assert_eq!(config.reactions.len(), 2);
        assert_eq!(config.reactions[1].profiler.kind, "cpu-profile");
        assert_eq!(
            config.reactions[0].trigger.config,
            serde_json::json!({ "signal": "SIGUSR1" })
        );
        assert_eq!(config.exporters[0].kind, "file");
        assert!(matches!(
            config.target.spec().expect("a target"),
            TargetSpec::Inspect { port: 9229, .. }
        ));
    }

    #[test]
    fn a_plugin_without_type_and_unknown_top_level_keys_are_refused() {
        let error = parse(
            r#"{ "target": { "pid": 1 }, "reactions": [], "exporters": [ { "path": "x" } ] }"#,
        )
        .expect_err("no type");
        assert!(format!("{error:#}").contains("needs a `type`"), "{error:#}");
        let error = parse(
            r#"{ "target": { "pid": 1 }, "reactions": [], "exporters": [], "exporter": [] }"#,
        )
        .expect_err("misspelt key");
        assert!(
            format!("{error:#}").contains("unknown field `exporter`"),
            "{error:#}"
        );
    }

    #[test]
    fn the_target_names_exactly_one_program() {
        let target = |json: &str| -> TargetConfig { serde_json::from_str(json).expect("parses") };
        assert!(matches!(
            target(r#"{ "pid": 42, "port": 9230 }"#)
                .spec()
                .expect("valid"),
            TargetSpec::Pid {
                pid: 42,
                port: Some(9230)
            }
        ));
        let none = target("{}").spec().expect_err("no program");
        assert!(none.to_string().contains("names no program"), "{none}");
        let several = target(r#"{ "pid": 1, "ws": "ws://127.0.0.1:1/x" }"#)
            .spec()
            .expect_err("two programs");
        assert!(several.to_string().contains("several"), "{several}");
        let port = target(r#"{ "inspect": "127.0.0.1:9229", "port": 1 }"#)
            .spec()
            .expect_err("port without pid");
        assert!(port.to_string().contains("`pid` only"), "{port}");
    }
}
