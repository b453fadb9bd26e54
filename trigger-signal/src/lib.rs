//! Unix signal trigger for openprofiling: each signal to the agent starts or stops a profile,
//! through signal-hook.
//!
//! [`SignalTrigger`] toggles its reaction on every signal, as the original's signal trigger:
//! a heap snapshot is taken on each `kill -USR2 <agent pid>`; a ranged profiler (CPU profile)
//! starts on one signal and stops on the next. A signal that arrives while a profile is still
//! being collected is refused with a warning in the log, never queued.
//!
//! - [`Signal`]: a catchable signal, from a name (`SIGUSR2`, `usr2`) or a number.
//! - [`SignalTrigger`]: the [`Trigger`](openprofiling_core::Trigger).
//! - [`SignalTriggerConfig`]: its configuration, registered as the trigger plugin `signal`
//!   (`{ "signal": "SIGUSR2" }`).
//! - [`Error`]: what can go wrong.
//!
//! ```
//! # async fn demo(
//! #     profiler: impl openprofiling_core::Profiler,
//! #     exporter: impl openprofiling_core::Exporter,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use openprofiling_core::ProfilingAgent;
//! use openprofiling_trigger_signal::{Signal, SignalTrigger};
//!
//! // `profiler` takes heap snapshots, `exporter` writes them to files.
//! let agent = ProfilingAgent::new()
//!     .register(SignalTrigger::new(Signal::USR2), profiler)
//!     .exporter(exporter)
//!     .start()?;
//! // ... `kill -USR2 <pid>` takes a snapshot, each time ...
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! From a configuration, through the registry:
//!
//! ```
//! use openprofiling_core::{PluginContext, Registry};
//! use openprofiling_trigger_signal as _; // links the plugin
//!
//! let config = serde_json::json!({ "signal": "usr1" });
//! let trigger = Registry::global()?.build_trigger("signal", &config, &PluginContext::new())?;
//! assert_eq!(trigger.name(), "signal SIGUSR1");
//! # Ok::<(), openprofiling_core::Error>(())
//! ```

mod config;
mod error;
mod signal;
mod trigger;

pub use config::{PLUGIN_NAME, SignalTriggerConfig};
pub use error::{Error, Result};
pub use signal::Signal;
pub use trigger::SignalTrigger;
