//! HTTP trigger for openprofiling: `POST /start`, `/stop` and `/toggle` on a small server,
//! loopback by default, as the original's HTTP trigger.
//!
//! - [`HttpTrigger`]: the [`Trigger`](openprofiling_core::Trigger); its doc lists the routes,
//!   replies and status codes.
//! - [`HttpTriggerConfig`]: its configuration, registered as the trigger plugin `http`
//!   (`{ "host": "127.0.0.1", "port": 9999, "token_env": "OPENPROFILING_TOKEN" }`).
//! - [`ActionReply`], [`ReportReply`], [`ExportReply`], [`ErrorReply`], [`StatusReply`]: the
//!   JSON replies, readable back with serde.
//! - [`Error`]: what can go wrong.
//!
//! ```sh
//! curl -X POST http://127.0.0.1:9999/start                 # {"outcome":"started","profile":1,...}
//! curl -X POST 'http://127.0.0.1:9999/stop?wait=true'      # ... "report":{"exports":[{"location":...}]}
//! curl -X POST -d '{"name":"slow","attributes":{"route":"/users"}}' http://127.0.0.1:9999/toggle
//! curl -H "Authorization: Bearer $TOKEN" http://10.0.0.5:9999/status
//! ```
//!
//! **Safety**: a host that is not loopback (`0.0.0.0`, a LAN address) is refused unless a
//! token is set: whoever reaches the trigger can take profiles, and a profile holds every string
//! of the program, secrets included.
//!
//! ```
//! # async fn demo(
//! #     profiler: impl openprofiling_core::Profiler,
//! #     exporter: impl openprofiling_core::Exporter,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use openprofiling_core::ProfilingAgent;
//! use openprofiling_trigger_http::{HttpTrigger, HttpTriggerConfig};
//!
//! // Port 0: any free port; `local_addr` says which.
//! let trigger = Arc::new(HttpTrigger::new(HttpTriggerConfig::loopback(0))?);
//! let agent = ProfilingAgent::new()
//!     .register(trigger.clone(), profiler)
//!     .exporter(exporter)
//!     .start()?;
//! let address = trigger.local_addr().await.ok_or("the HTTP trigger failed to start")?;
//! // ... curl -X POST http://{address}/start ...
//! agent.shutdown().await;
//! # let _ = address;
//! # Ok(()) }
//! ```
//!
//! From a configuration, through the registry:
//!
//! ```
//! use openprofiling_core::{PluginContext, Registry};
//! use openprofiling_trigger_http as _; // links the plugin
//!
//! let trigger = Registry::global()?.build_trigger(
//!     "http",
//!     &serde_json::json!({ "port": 0 }),
//!     &PluginContext::new(),
//! )?;
//! assert_eq!(trigger.name(), "http 127.0.0.1:0");
//! # Ok::<(), openprofiling_core::Error>(())
//! ```

mod auth;
mod config;
mod error;
mod plugin;
mod reply;
mod request;
mod routes;
mod server;

pub use config::{DEFAULT_HOST, DEFAULT_PORT, HttpTriggerConfig};
pub use error::{Error, Result};
pub use plugin::PLUGIN_NAME;
pub use reply::{ActionReply, ErrorReply, ExportReply, Outcome, ReportReply, StatusReply};
pub use request::MAX_BODY_BYTES;
pub use server::HttpTrigger;
