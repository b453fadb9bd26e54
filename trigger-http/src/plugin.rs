//! The registration of the `http` trigger plugin.

use openprofiling_core::registry::{self, PluginContext};
use openprofiling_core::{Trigger, register_trigger};
use serde_json::Value;

use crate::HttpTriggerConfig;

/// The name the trigger registers under (`"type": "http"`).
pub const PLUGIN_NAME: &str = "http";

/// The registry's constructor: a bad host or token is a configuration error naming the plugin.
fn build(config: &Value, _context: &PluginContext) -> openprofiling_core::Result<Box<dyn Trigger>> {
    let config: HttpTriggerConfig = registry::parse_config(PLUGIN_NAME, config)?;
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
    description: "an HTTP server (default 127.0.0.1:9999): POST /start, /stop, /toggle; optional bearer token, required off loopback",
    config_keys: ["host", "port", "token", "token_env"],
    build: build,
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use openprofiling_core::Registry;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_registry_lists_and_builds_the_http_trigger() {
        let registry = Registry::global().unwrap();
        let plugin = registry
            .triggers()
            .find(|plugin| plugin.name == "http")
            .expect("the http trigger is registered");
        assert_eq!(plugin.config_keys, ["host", "port", "token", "token_env"]);
        let context = PluginContext::new();
        let trigger = registry
            .build_trigger("http", &json!({ "port": 0 }), &context)
            .unwrap();
        assert_eq!(trigger.name(), "http 127.0.0.1:0");
        let trigger = registry
            .build_trigger("http", &Value::Null, &context)
            .unwrap();
        assert_eq!(trigger.name(), "http 127.0.0.1:9999");
        let trigger = registry
            .build_trigger("http", &json!({ "host": "[::1]", "port": 0 }), &context)
            .unwrap();
        assert_eq!(trigger.name(), "http [::1]:0");
    }

    #[test]
    fn the_registry_refuses_a_remote_host_without_token() {
        let registry = Registry::global().unwrap();
        let context = PluginContext::new();
        let error = registry
            .build_trigger("http", &json!({ "host": "0.0.0.0" }), &context)
            .unwrap_err()
            .to_string();
        assert!(error.contains("plugin \"http\""), "{error}");
        assert!(error.contains("without a token"), "{error}");
        assert!(error.contains("set `token` or `token_env`"), "{error}");
        let trigger = registry
            .build_trigger(
                "http",
                &json!({ "host": "0.0.0.0", "port": 0, "token": "0123456789abcdef" }),
                &context,
            )
            .unwrap();
        assert_eq!(trigger.name(), "http 0.0.0.0:0");
        let error = registry
            .build_trigger("http", &json!({ "hots": "x" }), &context)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `hots`"), "{error}");
    }
}
