//! Reference-counted domain enables: `Domain.enable` for the first user, `Domain.disable` after
//! the last, so profilers sharing a session never switch off each other's domains.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::{debug, warn};

use super::session::InspectorSession;
use crate::Result;

/// The enable count of every domain of one session.
#[derive(Default)]
pub(crate) struct Domains {
    slots: Mutex<HashMap<String, Arc<DomainSlot>>>,
}

/// One domain: its guard count, and a lock held across each enable or disable so the two
/// never cross on the wire.
#[derive(Default)]
struct DomainSlot {
    transition: tokio::sync::Mutex<()>,
    guards: AtomicUsize,
}

impl Domains {
    fn slot(&self, domain: &str) -> Arc<DomainSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(domain.to_owned()).or_default().clone()
    }

    pub(crate) fn count(&self, domain: &str) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .get(domain)
            .map_or(0, |slot| slot.guards.load(Ordering::Acquire))
    }

    pub(crate) async fn acquire(
        &self,
        session: &InspectorSession,
        domain: &str,
    ) -> Result<DomainGuard> {
        let slot = self.slot(domain);
        let _transition = slot.transition.lock().await;
        if slot.guards.load(Ordering::Acquire) == 0 {
            let _: serde_json::Value = session.call(&format!("{domain}.enable"), json!({})).await?;
            debug!(domain, "Domain enabled.");
        }
        slot.guards.fetch_add(1, Ordering::AcqRel);
        Ok(DomainGuard {
            session: Some(session.clone()),
            domain: domain.to_owned(),
        })
    }

    async fn release(&self, session: &InspectorSession, domain: &str) -> Result<()> {
        let slot = self.slot(domain);
        let _transition = slot.transition.lock().await;
        let left = slot.guards.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        if left == 0 && session.close_reason().is_none() {
            let _: serde_json::Value = session
                .call(&format!("{domain}.disable"), json!({}))
                .await?;
            debug!(domain, "Domain disabled.");
        }
        Ok(())
    }
}

/// Keeps a CDP domain enabled while it lives; made by
/// [`InspectorSession::enable_domain`].
///
/// Prefer [`DomainGuard::release`], which waits for the `disable` and reports its error;
/// dropping the guard releases it in the background.
#[derive(Debug)]
#[must_use = "the domain is released when the guard is dropped"]
pub struct DomainGuard {
    session: Option<InspectorSession>,
    domain: String,
}

impl DomainGuard {
    /// The domain kept enabled.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Releases the domain now; disables it if this was its last guard.
    pub async fn release(mut self) -> Result<()> {
        match self.session.take() {
            Some(session) => session.domains().release(&session, &self.domain).await,
            None => Ok(()),
        }
    }
}

impl Drop for DomainGuard {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let domain = std::mem::take(&mut self.domain);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = session.domains().release(&session, &domain).await {
                        debug!(domain, %error, "Releasing a dropped domain guard failed.");
                    }
                });
            }
            Err(_) => warn!(
                domain,
                "Domain guard dropped outside a runtime; domain left enabled."
            ),
        }
    }
}
