//! What each organisation holds, in memory, for the quota check on the deploy path: every
//! declared service's per-replica CPU and memory and its replicas, and the org's stored limits.
//!
//! Why: a check used to read the org's declared services (decoding each spec) and its stored
//! limits from the store on every deploy, scale and build — two store round trips, a few
//! hundred microseconds — where the rule's own call takes a few. Now:
//!
//! - **this engine's writes** update the ledger in place, as they are stored (`declared`,
//!   `removed`, `quotas_set`), so a burst of deploys never goes back to the store;
//! - **another engine's writes** (several engines on one store) are seen when an org's entry
//!   is older than [`FRESH_FOR`]: it is read again from the store. Checks were never atomic
//!   with the write they guard (two engines can both pass a check before either writes), so
//!   this adds at most that long to a window that was already there;
//! - a load that raced a write of this engine is used for its one check and not kept (a write
//!   counter tells), so the ledger never keeps what the store no longer says.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Quotas;
use super::meter::PerReplica;
use crate::EngineError;
use crate::engine::Ctx;
use crate::store::Scope;

/// How long an org's entry is trusted without reading the store again (for the writes of
/// other engines on the same store).
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(1);

/// One org: its services by (stack, service), and its limits stored through the API (`None`:
/// the file's).
#[derive(Debug, Clone, Default)]
pub(crate) struct Holding {
    pub services: BTreeMap<(String, String), (PerReplica, u32)>,
    pub stored_quotas: Option<Quotas>,
}

#[derive(Debug)]
struct Entry {
    loaded: Instant,
    holding: Holding,
}

/// The ledger; one per engine.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    orgs: Mutex<HashMap<String, Entry>>,
    /// Bumped by every write of this engine, before it updates the ledger.
    writes: AtomicU64,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.orgs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on what `org` holds: from memory when fresh, else read from the store first.
    pub(crate) async fn with_holding<T>(
        &self,
        ctx: &Ctx,
        org: &str,
        f: impl FnOnce(&Holding) -> T,
    ) -> Result<T, EngineError> {
        {
            let orgs = self.lock();
            if let Some(entry) = orgs.get(org)
                && entry.loaded.elapsed() < FRESH_FOR
            {
                return Ok(f(&entry.holding));
            }
        }
        let writes = self.writes.load(Ordering::SeqCst);
        let holding = load(ctx, org).await?;
        let answer = f(&holding);
        let mut orgs = self.lock();
        if self.writes.load(Ordering::SeqCst) == writes {
            orgs.insert(
                org.to_owned(),
                Entry {
                    loaded: Instant::now(),
                    holding,
                },
            );
        }
        Ok(answer)
    }

    /// A service of `org` was stored with `per` replica and `replicas`.
    pub(crate) fn declared(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        per: PerReplica,
        replicas: u32,
    ) {
        self.update(org, |h| {
            h.services
                .insert((stack.to_owned(), service.to_owned()), (per, replicas));
        });
    }

    /// A service of `org` was removed from the store.
    pub(crate) fn removed(&self, org: &str, stack: &str, service: &str) {
        self.update(org, |h| {
            h.services.remove(&(stack.to_owned(), service.to_owned()));
        });
    }

    /// `org`'s limits were stored.
    pub(crate) fn quotas_set(&self, org: &str, quotas: &Quotas) {
        self.update(org, |h| h.stored_quotas = Some(quotas.clone()));
    }

    fn update(&self, org: &str, f: impl FnOnce(&mut Holding)) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(entry) = self.lock().get_mut(org) {
            f(&mut entry.holding);
        }
    }
}

/// What the store says `org` holds.
async fn load(ctx: &Ctx, org: &str) -> Result<Holding, EngineError> {
    let services = ctx.store.list_desired_services(Scope::Org(org)).await?;
    let stored_quotas = ctx.store.org_quotas(org).await?;
    Ok(Holding {
        services: services
            .iter()
            .map(|s| {
                let per = super::meter::per_replica(&s.spec);
                ((s.stack.clone(), s.service.clone()), (per, s.replicas))
            })
            .collect(),
        stored_quotas,
    })
}
