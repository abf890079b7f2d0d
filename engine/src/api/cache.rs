//! A short-lived copy of the engine's container list, shared by the routes that read it.
//!
//! `Engine::containers` lists from Docker on every call (tens of milliseconds with many
//! containers, more while a deploy keeps Docker busy), which capped `GET /v1/containers` at
//! about 160 requests/s with 50 containers (`benches/api.rs` measures both ways). The copy is
//! refreshed when the event log moves — every lifecycle transition, health change and deploy
//! step is an event — and when it is half its `ttl` old; readers keep getting the previous
//! copy while a refresh runs in the background, so a refresh never stalls them. No copy older
//! than `ttl` is served: without one, a reader waits for a fresh listing (one at a time;
//! concurrent readers share it). It must not hold anything but what `Engine::containers`
//! returned.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{ContainerFilter, Engine, EngineError, ManagedContainer};

/// How old a copy may be when it is served.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Entry {
    fetched: Instant,
    /// The event log's last index when the list was read.
    event_index: u64,
    containers: Arc<Vec<ManagedContainer>>,
}

#[derive(Debug, Default)]
struct Shared {
    entry: Mutex<Option<Entry>>,
    /// Held by the one refresh under way.
    refresh: Arc<tokio::sync::Mutex<()>>,
}

/// The cached list of every managed container (all orgs; routes filter by caller).
#[derive(Debug, Clone)]
pub(crate) struct ContainerCache {
    ttl: Duration,
    shared: Arc<Shared>,
}

impl ContainerCache {
    /// A cache whose copies serve at most `ttl`; zero turns it off (every read lists).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shared: Arc::default(),
        }
    }

    fn current(&self) -> Option<Entry> {
        self.shared
            .entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `entry` needs no refresh: no event since, and young.
    fn is_fresh(&self, entry: &Entry, engine: &Engine) -> bool {
        entry.event_index == engine.event_log().last_index()
            && entry.fetched.elapsed() < self.ttl / 2
    }

    /// Every managed container: a copy at most `ttl` old (refreshed in the background when
    /// an event happened since or it is half that old), else a fresh listing.
    pub(crate) async fn get(
        &self,
        engine: &Engine,
    ) -> Result<Arc<Vec<ManagedContainer>>, EngineError> {
        if self.ttl.is_zero() {
            return Ok(Arc::new(
                engine.containers(&ContainerFilter::default()).await?,
            ));
        }
        if let Some(entry) = self.current()
            && entry.fetched.elapsed() < self.ttl
        {
            if !self.is_fresh(&entry, engine) {
                self.refresh_in_background(engine);
            }
            return Ok(entry.containers);
        }
        let _refreshing = self.shared.refresh.lock().await;
        // Another reader may have refreshed while this one waited.
        if let Some(entry) = self.current()
            && self.is_fresh(&entry, engine)
        {
            return Ok(entry.containers);
        }
        self.fetch(engine).await
    }

    /// Lists and stores a new copy (the caller holds the refresh lock).
    async fn fetch(&self, engine: &Engine) -> Result<Arc<Vec<ManagedContainer>>, EngineError> {
        // Read before listing: an event during the listing leaves an older index here, so the
        // copy is refreshed again rather than taken to include what the event changed.
        let event_index = engine.event_log().last_index();
        let containers = Arc::new(engine.containers(&ContainerFilter::default()).await?);
        *self
            .shared
            .entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Entry {
            fetched: Instant::now(),
            event_index,
            containers: containers.clone(),
        });
        Ok(containers)
    }

    /// Starts a refresh unless one is under way.
    fn refresh_in_background(&self, engine: &Engine) {
        let Ok(guard) = self.shared.refresh.clone().try_lock_owned() else {
            return;
        };
        let (cache, engine) = (self.clone(), engine.clone());
        tokio::spawn(async move {
            let _refreshing = guard;
            if let Err(error) = cache.fetch(&engine).await {
                // The next reader past the TTL lists itself and gets the error.
                tracing::debug!(%error, "refreshing the container list failed");
            }
        });
    }

    /// Container `name` from a copy younger than the TTL, without asking Docker: `None` when
    /// there is none or the name is not in it (a container created since). Read routes use it
    /// to check the caller's org (a name's org never changes: it is part of the name), and the
    /// health route to skip Docker when the stats sampler has a reading.
    pub(crate) fn peek(&self, name: &str) -> Option<ManagedContainer> {
        let entry = self.current()?;
        if self.ttl.is_zero() || entry.fetched.elapsed() >= self.ttl {
            return None;
        }
        entry.containers.iter().find(|c| c.name == name).cloned()
    }
}
