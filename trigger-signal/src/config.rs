//! [`SignalTriggerConfig`] and the registration of the `signal` plugin.

use openprofiling_core::registry::{self, PluginContext};
use openprofiling_core::{Trigger, register_trigger};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::{Result, Signal, SignalTrigger};

/// The name the trigger registers under (`"type": "signal"`).
pub const PLUGIN_NAME: &str = "signal";

/// Configuration of the `signal` trigger.
///
/// ```json
/// { "signal": "SIGUSR2" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalTriggerConfig {
    /// The signal to catch: a name in any case, with or without `SIG` (`SIGUSR2`, `usr1`,
    /// `HUP`), or a number (`"12"` or `12`). Default `SIGUSR2`. `SIGKILL`, `SIGSTOP` and the
    /// fault signals (`SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`) are refused.
    #[serde(deserialize_with = "name_or_number")]
    pub signal: String,
}

impl Default for SignalTriggerConfig {
    fn default() -> Self {
        Self {
            signal: Signal::default().to_string(),
        }
    }
}

impl SignalTriggerConfig {
    /// The configured signal, checked.
    pub fn signal(&self) -> Result<Signal> {
        self.signal.parse()
    }

    /// A trigger on the configured signal.
    pub fn build(&self) -> Result<SignalTrigger> {
        Ok(SignalTrigger::new(self.signal()?))
    }
}

/// Accepts `"SIGUSR2"` as well as `12`.
fn name_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NameOrNumber {
        Name(String),
        Number(i64),
    }
    Ok(
        match NameOrNumber::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("signal must be a name such as \"SIGUSR2\" or a number")
        })? {
            NameOrNumber::Name(name) => name,
            NameOrNumber::Number(number) => number.to_string(),
        },
    )
}

/// The registry's constructor: a bad signal is a configuration error naming the plugin.
fn build(config: &Value, _context: &PluginContext) -> openprofiling_core::Result<Box<dyn Trigger>> {
    let config: SignalTriggerConfig = registry::parse_config(PLUGIN_NAME, config)?;
    let trigger = config
        .build()
        .map_err(|error| openprofiling_core::Error::Config {
            plugin: PLUGIN_NAME.to_owned(),
            source: error.into(),
        })?;
    Ok(Box::new(trigger))
}

register_trigger!(
    name: PLUGIN_NAME,
    description: "a Unix signal to the agent (default SIGUSR2): each one takes a heap snapshot, or starts/stops a ranged profile",
    config_keys: ["signal"],
    build: build,
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use openprofiling_core::Registry;
    use serde_json::json;

    use super::*;

    #[test]
    fn example_config_round_trips() {
        let config: SignalTriggerConfig =
            serde_json::from_value(json!({ "signal": "SIGUSR1" })).unwrap();
        assert_eq!(config.signal().unwrap(), Signal::USR1);
        let back: SignalTriggerConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn the_default_is_sigusr2_and_numbers_are_accepted() {
        let empty: SignalTriggerConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, SignalTriggerConfig::default());
        assert_eq!(empty.signal().unwrap(), Signal::USR2);
        let number = Signal::USR1.number();
        let config: SignalTriggerConfig =
            serde_json::from_value(json!({ "signal": number })).unwrap();
        assert_eq!(config.signal().unwrap(), Signal::USR1);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_rejected() {
        let error = registry::parse_config::<SignalTriggerConfig>(
            PLUGIN_NAME,
            &json!({ "signal": "SIGUSR2", "sginal": "SIGUSR1" }),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `sginal`"), "{error}");
        assert!(error.contains("\"signal\""), "{error}");
        let error = serde_json::from_value::<SignalTriggerConfig>(json!({ "signal": true }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("a name such as"), "{error}");
    }

    #[test]
    fn the_registry_lists_and_builds_the_signal_trigger() {
        let registry = Registry::global().unwrap();
        let plugin = registry
            .triggers()
            .find(|plugin| plugin.name == "signal")
            .expect("the signal trigger is registered");
        assert_eq!(plugin.config_keys, ["signal"]);
        let context = PluginContext::new();
        let trigger = registry
            .build_trigger("signal", &json!({ "signal": "usr1" }), &context)
            .unwrap();
        assert_eq!(trigger.name(), "signal SIGUSR1");
        let trigger = registry
            .build_trigger("signal", &Value::Null, &context)
            .unwrap();
        assert_eq!(trigger.name(), "signal SIGUSR2");
        let error = registry
            .build_trigger("signal", &json!({ "signal": "SIGKILL" }), &context)
            .unwrap_err()
            .to_string();
        assert!(error.contains("plugin \"signal\""), "{error}");
        assert!(error.contains("SIGKILL cannot be used"), "{error}");
    }
}
