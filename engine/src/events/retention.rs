//! Retention: how long events are kept, and the background loop that enforces it.
//!
//! Pruning always removes a prefix of the log (every index below a boundary), so what remains
//! is contiguous and a subscriber resuming from a pruned index simply starts at the oldest kept.

use std::time::Duration;

use crate::store::{Store, StoreError, now_ms};

/// How many events to keep. Both limits apply when both are set; neither means keep forever.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Remove events committed longer ago than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many of the newest events.
    pub max_events: Option<u64>,
}

impl RetentionPolicy {
    /// Keeps everything.
    pub fn unbounded() -> Self {
        RetentionPolicy::default()
    }

    /// Sets [`RetentionPolicy::max_age`].
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets [`RetentionPolicy::max_events`].
    pub fn with_max_events(mut self, max_events: u64) -> Self {
        self.max_events = Some(max_events);
        self
    }

    /// Whether this policy never removes anything.
    pub fn is_unbounded(&self) -> bool {
        self.max_age.is_none() && self.max_events.is_none()
    }
}

/// Applies `policy` once; returns how many events were removed.
pub(super) async fn apply(store: &Store, policy: &RetentionPolicy) -> Result<u64, StoreError> {
    let mut boundary = None;
    if let Some(max_age) = policy.max_age {
        let age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        boundary = boundary.max(age_boundary(store, now_ms().saturating_sub(age_ms)).await?);
    }
    if let Some(keep) = policy.max_events {
        boundary = boundary.max(count_boundary(store, keep).await?);
    }
    match boundary {
        Some(boundary) => store.delete_events_below(boundary).await,
        None => Ok(0),
    }
}

/// Removes events committed before `ts_ms`.
pub(super) async fn prune_older_than(store: &Store, ts_ms: i64) -> Result<u64, StoreError> {
    match age_boundary(store, ts_ms).await? {
        Some(boundary) => store.delete_events_below(boundary).await,
        None => Ok(0),
    }
}

/// Removes all but the newest `keep` events.
pub(super) async fn prune_keep_last(store: &Store, keep: u64) -> Result<u64, StoreError> {
    match count_boundary(store, keep).await? {
        Some(boundary) => store.delete_events_below(boundary).await,
        None => Ok(0),
    }
}

/// Runs [`apply`] every `interval` until aborted; failures are logged and retried next time.
pub(super) async fn prune_loop(store: Store, policy: RetentionPolicy, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match apply(&store, &policy).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "pruned events"),
            Err(error) => tracing::warn!(error = %error, "event pruning failed"),
        }
    }
}

/// First index to keep when dropping events older than `cutoff_ms`: the first event stamped at
/// or after it, or past the newest event if all are older.
async fn age_boundary(store: &Store, cutoff_ms: i64) -> Result<Option<u64>, StoreError> {
    // Read the end first: an event committed after the search below is newer than the cutoff
    // and must stay even if the search found nothing.
    let end = store.next_event_index().await?;
    match store.first_event_index_since(cutoff_ms).await? {
        Some(index) => Ok(Some(index.min(end))),
        None => Ok(Some(end)),
    }
}

/// First index to keep when keeping the newest `keep` events (`None`: fewer are stored).
async fn count_boundary(store: &Store, keep: u64) -> Result<Option<u64>, StoreError> {
    if keep == 0 {
        return Ok(Some(store.next_event_index().await?));
    }
    store.nth_newest_event_index(keep).await
}
