//! A short-lived copy of the engine's container list, shared by the routes that read it.
//!
//! `Engine::containers` lists from Docker on every call (tens of milliseconds with many
//! containers, more while a deploy keeps Docker busy), which capped `GET /v1/containers` at
//! about 150 requests/s with 50 containers (`benches/api.rs` measures both ways).
//!
//! What a reader gets reflects every event committed before it arrived — every lifecycle
//! transition, health change and deploy step is an event, so a client that deployed and then
//! lists sees what its deploy did — and is never older than `ttl`, for what changes in Docker
//! without an event. A copy that satisfies both is served at once; a copy half its TTL old is
//! refreshed in the background meanwhile, so in a quiet system readers never wait for Docker.
//! Otherwise the reader waits for a listing, one at a time: readers that arrive during a
//! listing take the copy it produces when it covers their arrival, instead of each listing
//! again. It must not hold anything but what `Engine::containers` returned.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use windlass::{ContainerFilter, Engine, EngineError, ManagedContainer};

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

    /// Whether `entry` may answer a reader that arrived when the event log's last index was
    /// `arrival`: it was listed after that event and is younger than the TTL.
    fn covers(&self, entry: &Entry, arrival: u64) -> bool {
        entry.event_index >= arrival && entry.fetched.elapsed() < self.ttl
    }

    /// Every managed container, as described in the module docs.
    pub(crate) async fn get(
        &self,
        engine: &Engine,
    ) -> Result<Arc<Vec<ManagedContainer>>, EngineError> {
        if self.ttl.is_zero() {
            return Ok(Arc::new(
                engine.containers(&ContainerFilter::default()).await?,
            ));
        }
        let arrival = engine.event_log().last_index();
        if let Some(entry) = self.current()
            && self.covers(&entry, arrival)
        {
            if entry.fetched.elapsed() >= self.ttl / 2 {
                self.refresh_in_background(engine);
            }
            return Ok(entry.containers);
        }
        let _refreshing = self.shared.refresh.lock().await;
        // The listing this reader waited for may cover it.
        if let Some(entry) = self.current()
            && self.covers(&entry, arrival)
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

    /// Container `name` from a copy younger than the TTL, without asking Docker, and whether
    /// that copy covers every event so far: `None` when there is no such copy or the name is
    /// not in it (a container created since). Read routes use it to check the caller's org (a
    /// name's org never changes: it is part of the name); the health route also takes the
    /// container's state from a covering copy instead of inspecting it.
    pub(crate) fn peek(&self, engine: &Engine, name: &str) -> Option<(ManagedContainer, bool)> {
        let entry = self.current()?;
        if self.ttl.is_zero() || entry.fetched.elapsed() >= self.ttl {
            return None;
        }
        let covering = self.covers(&entry, engine.event_log().last_index());
        let listed = entry.containers.iter().find(|c| c.name == name)?;
        Some((listed.clone(), covering))
    }
}
