//! A short-lived copy of the engine's container list, shared by the routes that read it.
//!
//! `Engine::containers` lists from Docker on every call (tens of milliseconds with many
//! containers, and Docker serialises lists), which capped `GET /v1/containers` well below the
//! request rate a dashboard or a CLI loop produces (`benches/api.rs` measures both). The copy
//! is dropped when the event log moves — every lifecycle transition, health change and deploy
//! step is an event — and after `ttl` at the latest, for what Docker changes without the engine
//! noticing yet. One refresh at a time: concurrent readers wait for it instead of each listing.
//! It must not hold anything but what `Engine::containers` returned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::{ContainerFilter, Engine, EngineError, ManagedContainer};

/// How long a copy may serve when no event arrives.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    fetched: Instant,
    /// The event log's last index when the list was read.
    event_index: u64,
    containers: Arc<Vec<ManagedContainer>>,
}

/// The cached list of every managed container (all orgs; routes filter by caller).
#[derive(Debug, Clone)]
pub(crate) struct ContainerCache {
    ttl: Duration,
    entry: Arc<Mutex<Option<Entry>>>,
}

impl ContainerCache {
    /// A cache whose copies serve at most `ttl`; zero turns it off (every read lists).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entry: Arc::default(),
        }
    }

    /// Every managed container: the copy if no event happened since and it is younger than
    /// the TTL, else a fresh listing.
    pub(crate) async fn get(
        &self,
        engine: &Engine,
    ) -> Result<Arc<Vec<ManagedContainer>>, EngineError> {
        if self.ttl.is_zero() {
            return Ok(Arc::new(
                engine.containers(&ContainerFilter::default()).await?,
            ));
        }
        let mut entry = self.entry.lock().await;
        // Read before listing: an event during the listing leaves an older index here, so the
        // next read lists again rather than serve what may predate the event.
        let index = engine.event_log().last_index();
        if let Some(e) = entry.as_ref()
            && e.event_index == index
            && e.fetched.elapsed() < self.ttl
        {
            return Ok(e.containers.clone());
        }
        let containers = Arc::new(engine.containers(&ContainerFilter::default()).await?);
        *entry = Some(Entry {
            fetched: Instant::now(),
            event_index: index,
            containers: containers.clone(),
        });
        Ok(containers)
    }

    /// Container `name` from a copy that is still fresh, without asking Docker: `None` when
    /// there is no fresh copy, a refresh is under way, or the name is not in it (a container
    /// created since). Read routes use it to check the caller's org, and the health route to
    /// skip Docker altogether when the stats sampler has a reading.
    pub(crate) fn peek(&self, engine: &Engine, name: &str) -> Option<ManagedContainer> {
        let entry = self.entry.try_lock().ok()?;
        let entry = entry.as_ref()?;
        if entry.event_index != engine.event_log().last_index()
            || entry.fetched.elapsed() >= self.ttl
        {
            return None;
        }
        entry.containers.iter().find(|c| c.name == name).cloned()
    }
}
