//! [`EventLog`]: the handle the engine appends to, subscribes to and queries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::retention::{self, RetentionPolicy};
use super::subscribe::EventStream;
use super::writer::{Command, Writer};
use super::{Event, EventFilter, EventLogError, NewEvent};
use crate::store::Store;

/// Tuning of an [`EventLog`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventLogConfig {
    /// Stop gathering queued appends into one commit at this many events. Default: 1024.
    pub max_batch: usize,
    /// Appends (commands) that may wait for the writer before `append`/`emit` wait for room.
    /// Default: 16384.
    pub queue_capacity: usize,
    /// Committed batches buffered for live subscribers; one that falls further behind catches
    /// up from the store instead. Default: 1024.
    pub broadcast_capacity: usize,
    /// What the background pruner removes. Default: keep everything.
    pub retention: RetentionPolicy,
    /// How often the background pruner runs when `retention` is set. Default: 60 s.
    pub prune_interval: Duration,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig {
            max_batch: 1024,
            queue_capacity: 16_384,
            broadcast_capacity: 1024,
            retention: RetentionPolicy::default(),
            prune_interval: Duration::from_secs(60),
        }
    }
}

impl EventLogConfig {
    /// Sets [`EventLogConfig::max_batch`] (at least 1).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets [`EventLogConfig::queue_capacity`] (at least 1).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Sets [`EventLogConfig::broadcast_capacity`] (at least 1).
    pub fn with_broadcast_capacity(mut self, capacity: usize) -> Self {
        self.broadcast_capacity = capacity.max(1);
        self
    }

    /// Sets [`EventLogConfig::retention`].
    pub fn with_retention(mut self, retention: RetentionPolicy) -> Self {
        self.retention = retention;
        self
    }

    /// Sets [`EventLogConfig::prune_interval`].
    pub fn with_prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval;
        self
    }
}

/// What the writer and the subscriptions share.
#[derive(Debug)]
pub(super) struct Shared {
    /// Highest committed index (0 before the first event). Everything up to it is readable
    /// from the store.
    pub(super) last_committed: AtomicU64,
    /// Announces committed batches; `None` once the writer has stopped.
    announcer: Mutex<Option<broadcast::Sender<Arc<[Event]>>>>,
}

impl Shared {
    fn announcer(&self) -> MutexGuard<'_, Option<broadcast::Sender<Arc<[Event]>>>> {
        // Nothing can panic while the lock is held; recover the data if it ever does.
        self.announcer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a committed batch to live subscribers (no-op without any).
    pub(super) fn announce(&self, events: Arc<[Event]>) {
        if let Some(sender) = self.announcer().as_ref() {
            let _ = sender.send(events);
        }
    }

    /// A receiver of future announcements, or `None` once the writer has stopped.
    pub(super) fn listen(&self) -> Option<broadcast::Receiver<Arc<[Event]>>> {
        self.announcer().as_ref().map(broadcast::Sender::subscribe)
    }

    /// Drops the sender so that subscriptions end after the last announced batch.
    pub(super) fn close_announcer(&self) {
        self.announcer().take();
    }
}

/// The engine's event log: append, subscribe, query, prune. Cheap to clone.
///
/// Open one per store: it alone assigns indexes. Dropping the last clone stops the writer
/// after it has committed what was queued; [`EventLog::close`] does the same and waits.
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    store: Store,
    config: EventLogConfig,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    pruner: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(pruner) = self.pruner.get_mut().ok().and_then(Option::take) {
            pruner.abort();
        }
    }
}

impl EventLog {
    /// Opens the log over `store` with the default [`EventLogConfig`]. Must be called within a
    /// tokio runtime: it spawns the writer task.
    pub async fn open(store: Store) -> Result<EventLog, EventLogError> {
        EventLog::open_with(store, EventLogConfig::default()).await
    }

    /// Opens the log over `store`: numbering continues after the highest index ever stored,
    /// and a background pruner starts if `config.retention` is set.
    pub async fn open_with(
        store: Store,
        config: EventLogConfig,
    ) -> Result<EventLog, EventLogError> {
        let next_index = store.next_event_index().await?;
        let (announcer, _) = broadcast::channel(config.broadcast_capacity.max(1));
        let shared = Arc::new(Shared {
            last_committed: AtomicU64::new(next_index - 1),
            announcer: Mutex::new(Some(announcer)),
        });
        let (commands, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let writer = Writer {
            store: store.clone(),
            commands: receiver,
            shared: Arc::clone(&shared),
            next_index,
            max_batch: config.max_batch.max(1),
            sink: None,
        };
        let writer = tokio::spawn(writer.run());
        let pruner = (!config.retention.is_unbounded()).then(|| {
            tokio::spawn(retention::prune_loop(
                store.clone(),
                config.retention.clone(),
                config.prune_interval,
            ))
        });
        Ok(EventLog {
            inner: Arc::new(Inner {
                commands,
                shared,
                store,
                config,
                writer: tokio::sync::Mutex::new(Some(writer)),
                pruner: Mutex::new(pruner),
            }),
        })
    }

    /// Appends one event and waits for its commit; returns it with its index and timestamp.
    pub async fn append(&self, event: NewEvent) -> Result<Event, EventLogError> {
        self.append_many(vec![event])
            .await?
            .pop()
            .ok_or(EventLogError::Closed)
    }

    /// Appends events atomically (all commit in one transaction, with consecutive indexes, or
    /// none do) and waits for the commit.
    pub async fn append_many(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, EventLogError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        events.iter().try_for_each(NewEvent::validate)?;
        let (reply, committed) = oneshot::channel();
        self.send(Command::Append {
            events,
            reply: Some(reply),
        })
        .await?;
        committed.await.map_err(|_| EventLogError::Closed)?
    }

    /// Queues an event without waiting for its commit (only for room in the queue). A failed
    /// commit is logged, not reported; use [`EventLog::flush`] to wait for queued events.
    pub async fn emit(&self, event: NewEvent) -> Result<(), EventLogError> {
        event.validate()?;
        self.send(Command::Append {
            events: vec![event],
            reply: None,
        })
        .await
    }

    /// Waits until everything queued before this call is committed (or has failed).
    pub async fn flush(&self) -> Result<(), EventLogError> {
        let (reply, flushed) = oneshot::channel();
        self.send(Command::Flush(reply)).await?;
        flushed.await.map_err(|_| EventLogError::Closed)
    }

    /// Stops the log: refuses new appends, commits what is queued, stops the writer and the
    /// pruner, and ends live subscriptions once they have caught up. Idempotent.
    pub async fn close(&self) {
        if let Some(pruner) = self
            .inner
            .pruner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            pruner.abort();
        }
        // A full queue or a stopped writer both make this fail; either way the writer is
        // told (closed receiver) or about to stop, and we wait for it below.
        let _ = self.inner.commands.send(Command::Close).await;
        let mut writer = self.inner.writer.lock().await;
        if let Some(handle) = writer.take()
            && let Err(error) = handle.await
        {
            tracing::error!(error = %error, "event writer task failed");
        }
    }

    /// Events from `from_index` on (0 and 1 both mean from the start): first the stored
    /// history, then live events as they commit, with no gap and no duplicate. The stream ends
    /// when the log closes, or after yielding an error (resume from the last index + 1).
    ///
    /// Events already removed by retention are skipped: the stream starts at the oldest kept.
    pub fn subscribe(&self, from_index: u64) -> EventStream {
        self.subscribe_filtered(EventFilter::from_index(from_index))
    }

    /// Like [`EventLog::subscribe`], but only events matching `filter`'s org, stack and kind,
    /// from its `from_index`, ending after `limit` events if set.
    pub fn subscribe_filtered(&self, filter: EventFilter) -> EventStream {
        EventStream::new(
            self.inner.store.clone(),
            Arc::clone(&self.inner.shared),
            filter,
        )
    }

    /// One page of stored history matching `filter`, in index order; see [`EventFilter`] for
    /// page sizes. Only committed events are ever returned.
    pub async fn query(&self, filter: &EventFilter) -> Result<Vec<Event>, EventLogError> {
        let limit = filter
            .limit
            .unwrap_or(EventFilter::DEFAULT_QUERY_LIMIT)
            .min(EventFilter::MAX_QUERY_LIMIT);
        Ok(self
            .inner
            .store
            .read_events(filter.from_index, None, filter, limit)
            .await?)
    }

    /// Index of the newest committed event; 0 if there has never been one.
    pub fn last_index(&self) -> u64 {
        self.inner.shared.last_committed.load(Ordering::SeqCst)
    }

    /// Index of the oldest event still stored, if any.
    pub async fn first_index(&self) -> Result<Option<u64>, EventLogError> {
        Ok(self.inner.store.first_event_index().await?)
    }

    /// Applies the configured [`RetentionPolicy`] now; returns how many events were removed.
    pub async fn apply_retention(&self) -> Result<u64, EventLogError> {
        Ok(retention::apply(&self.inner.store, &self.inner.config.retention).await?)
    }

    /// Removes every event committed before `ts_ms` (ms since the Unix epoch), and every event
    /// older than those (the log is only ever pruned from its oldest end).
    pub async fn prune_older_than(&self, ts_ms: i64) -> Result<u64, EventLogError> {
        Ok(retention::prune_older_than(&self.inner.store, ts_ms).await?)
    }

    /// Removes all but the newest `keep` events.
    pub async fn prune_keep_last(&self, keep: u64) -> Result<u64, EventLogError> {
        Ok(retention::prune_keep_last(&self.inner.store, keep).await?)
    }

    async fn send(&self, command: Command) -> Result<(), EventLogError> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| EventLogError::Closed)
    }
}
