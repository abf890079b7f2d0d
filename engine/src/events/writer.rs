//! The single writer: batches queued appends, assigns indexes, commits, then announces.
//!
//! One task owns index assignment, so indexes are gap-free and commits happen in index order:
//! when batch *n* is visible in the store, every batch before it is too. That is what lets a
//! subscriber trust "everything up to `last_committed` is in the store". Batching is what makes
//! it fast: whatever is queued when a commit ends (up to `max_batch` events) goes into the next
//! commit as one multi-row insert.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use super::log::Shared;
use super::{Event, EventLogError, NewEvent};
use crate::store::{EventSink, Store, StoreError, now_ms};

/// How many times a batch is renumbered when other writers keep taking its indexes. Each
/// retry reads the store's next index afresh, so only a writer that wins every race (many
/// engines appending flat out on one database) exhausts it.
const INDEX_RACE_ATTEMPTS: u32 = 16;

/// What callers send the writer.
pub(super) enum Command {
    /// Append these events atomically (one batch); reply with them once committed, or not at all
    /// for fire-and-forget emits.
    Append {
        events: Vec<NewEvent>,
        reply: Option<oneshot::Sender<Result<Vec<Event>, EventLogError>>>,
    },
    /// Reply once everything queued before this command is committed (or failed).
    Flush(oneshot::Sender<()>),
    /// Stop accepting commands, commit what is queued, then stop.
    Close,
}

/// The writer task's state.
pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) shared: Arc<Shared>,
    /// Index of the next event to commit.
    pub(super) next_index: u64,
    /// Stop draining the queue into a batch once it holds this many events.
    pub(super) max_batch: usize,
    /// The writer's own connection; reserved on first use and again after any failure.
    pub(super) sink: Option<EventSink>,
}

/// One commit's worth of commands.
#[derive(Default)]
struct Batch {
    events: Vec<NewEvent>,
    /// Each append's share of `events`, in order, and where to reply (`None` for emits).
    appends: Vec<(usize, Option<Reply>)>,
    flushes: Vec<oneshot::Sender<()>>,
}

type Reply = oneshot::Sender<Result<Vec<Event>, EventLogError>>;

impl Writer {
    /// Runs until every sender is gone or [`Command::Close`] arrives and the queue is drained.
    pub(super) async fn run(mut self) {
        while let Some(first) = self.commands.recv().await {
            let mut batch = Batch::default();
            self.add(&mut batch, first);
            while batch.events.len() < self.max_batch {
                match self.commands.try_recv() {
                    Ok(command) => self.add(&mut batch, command),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
        }
        // Dropping the last sender ends every subscription once it has caught up.
        self.shared.close_announcer();
        tracing::debug!(next_index = self.next_index, "event writer stopped");
    }

    fn add(&mut self, batch: &mut Batch, command: Command) {
        match command {
            Command::Append { events, reply } => {
                batch.appends.push((events.len(), reply));
                batch.events.extend(events);
            }
            Command::Flush(reply) => batch.flushes.push(reply),
            // Closing the receiver refuses new commands; those already queued still arrive.
            Command::Close => self.commands.close(),
        }
    }

    /// Commits a batch and answers everyone in it.
    async fn commit(&mut self, batch: Batch) {
        let Batch {
            events,
            appends,
            flushes,
        } = batch;
        if !events.is_empty() {
            let ts_ms = now_ms();
            let events: Vec<Event> = events
                .into_iter()
                .map(|event| event.into_event(0, ts_ms))
                .collect();
            match self.write(events).await {
                Ok(committed) => {
                    let mut start = 0;
                    for (count, reply) in appends {
                        if let Some(reply) = reply {
                            // The caller may have stopped waiting; the events are stored anyway.
                            let _ = reply.send(Ok(committed[start..start + count].to_vec()));
                        }
                        start += count;
                    }
                }
                // One append's bad data (say a payload the database rejects) must not fail
                // the others that happened to share its batch: retry them one by one.
                Err((error, mut events)) if appends.len() > 1 && error.is_data_error() => {
                    tracing::warn!(error = %error, appends = appends.len(), "event batch rejected; committing its appends one by one");
                    for (count, reply) in appends {
                        let own: Vec<Event> = events.drain(..count).collect();
                        let result = self.write(own).await;
                        if let Err((error, lost)) = &result {
                            tracing::error!(error = %error, events = lost.len(), "event append failed");
                        }
                        if let Some(reply) = reply {
                            let _ =
                                reply.send(result.map(|c| c.to_vec()).map_err(|(e, _)| e.into()));
                        }
                    }
                }
                Err((error, events)) => {
                    tracing::error!(error = %error, events = events.len(), "event batch commit failed");
                    let error = EventLogError::from(error);
                    for (_, reply) in appends {
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        }
        for flush in flushes {
            let _ = flush.send(());
        }
    }

    /// Numbers `events` from the next index and commits them in one transaction; on success
    /// moves the watermark and announces them. On failure, gives the events back.
    ///
    /// Another engine on the same database (a successor started before this one stopped, or
    /// a second runner on one PostgreSQL) numbers from the same sequence. When it took the
    /// indexes first, the commit fails on the primary key: the batch is renumbered from the
    /// store's next index and committed again, up to [`INDEX_RACE_ATTEMPTS`] times.
    async fn write(
        &mut self,
        mut events: Vec<Event>,
    ) -> Result<Arc<[Event]>, (StoreError, Vec<Event>)> {
        let mut attempt = 1;
        loop {
            let first_index = self.next_index;
            for (event, index) in events.iter_mut().zip(first_index..) {
                event.index = index;
            }
            match self.insert(&events).await {
                Ok(()) => {
                    self.next_index = first_index + events.len() as u64;
                    break;
                }
                Err(error) => {
                    self.resync_index(events.len()).await;
                    if !error.is_unique_violation() || attempt == INDEX_RACE_ATTEMPTS {
                        return Err((error, events));
                    }
                    tracing::debug!(
                        first_index,
                        next_index = self.next_index,
                        attempt,
                        "event indexes taken by another writer; renumbering"
                    );
                    attempt += 1;
                }
            }
        }
        let events: Arc<[Event]> = events.into();
        // Written before announced: the watermark moves only after the commit, and the
        // announcement only after the watermark.
        self.shared
            .last_committed
            .store(self.next_index - 1, Ordering::SeqCst);
        self.shared.announce(Arc::clone(&events));
        Ok(events)
    }

    /// Inserts on the reserved connection. A connection that failed is not reused, since its
    /// state is unknown; if a connection kept from an earlier batch fails (the server may have
    /// closed it while idle), the batch is tried once more on a fresh one. That retry cannot
    /// store anything twice: the indexes are the primary key.
    async fn insert(&mut self, events: &[Event]) -> Result<(), StoreError> {
        if let Some(mut sink) = self.sink.take() {
            match sink.insert_events(events).await {
                Ok(()) => {
                    self.sink = Some(sink);
                    return Ok(());
                }
                Err(error) => {
                    tracing::debug!(error = %error, "event insert failed on a kept connection; retrying on a new one");
                }
            }
        }
        let mut sink = self.store.event_sink().await?;
        sink.insert_events(events).await?;
        self.sink = Some(sink);
        Ok(())
    }

    /// After a failed commit, takes the next index from the store: a commit that failed for
    /// real frees its indexes, one that succeeded without us hearing so keeps them. If the
    /// store cannot even say, skip the batch's indexes; subscribers tolerate holes.
    async fn resync_index(&mut self, attempted: usize) {
        match self.store.next_event_index().await {
            Ok(next) => {
                self.next_index = next.max(self.shared.last_committed.load(Ordering::SeqCst) + 1)
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot re-read the next event index; skipping the failed batch's indexes");
                self.next_index += attempted as u64;
            }
        }
    }
}
