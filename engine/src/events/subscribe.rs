//! Subscriptions: replay from the store, then follow live announcements, with no gap and no
//! duplicate.
//!
//! The order of operations is what makes this correct. A subscription first starts listening
//! to announcements, *then* reads the writer's `last_committed` watermark: every event up to
//! the watermark is already in the store, and every later one will be announced to us (the
//! writer moves the watermark before announcing). So it replays `[from, watermark]` from the
//! store, then forwards announced events, dropping those at or below what it has already
//! passed. If the announcements ever jump ahead (it lagged behind the broadcast buffer), the
//! missing range is read from the store before going on.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::log::Shared;
use super::{Event, EventFilter, EventLogError};
use crate::store::Store;

/// Events read from the store per query while catching up.
const REPLAY_PAGE: u32 = 1_000;

/// A subscription's events, oldest first; see [`EventLog::subscribe`](super::EventLog::subscribe).
pub struct EventStream {
    inner: Pin<Box<dyn Stream<Item = Result<Event, EventLogError>> + Send>>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<Event, EventLogError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl EventStream {
    pub(super) fn new(store: Store, shared: Arc<Shared>, filter: EventFilter) -> Self {
        // Listen first, then read the watermark: see the module docs.
        let live = shared.listen();
        let replay_until = shared.last_committed.load(Ordering::SeqCst) + 1;
        let subscription = Subscription {
            next: filter.from_index.max(1),
            remaining: filter.limit.map(u64::from),
            store,
            shared,
            live,
            filter,
            replay_until,
            buffer: VecDeque::new(),
            pending: None,
            failed: false,
        };
        let stream = futures::stream::unfold(subscription, |mut subscription| async move {
            let item = subscription.next_event().await?;
            Some((item, subscription))
        });
        EventStream {
            inner: Box::pin(stream),
        }
    }
}

struct Subscription {
    store: Store,
    shared: Arc<Shared>,
    /// Announcements of committed batches; `None` once the log has closed.
    live: Option<broadcast::Receiver<Arc<[Event]>>>,
    filter: EventFilter,
    /// Every index below this has been delivered or skipped.
    next: u64,
    /// Indexes in `next..replay_until` are committed but not yet read from the store.
    replay_until: u64,
    /// Matching events ready to yield.
    buffer: VecDeque<Event>,
    /// A live batch that arrived ahead of `next`, held until the gap is replayed.
    pending: Option<Arc<[Event]>>,
    /// Events still to yield before the stream ends, if limited.
    remaining: Option<u64>,
    /// An error was yielded; the stream ends.
    failed: bool,
}

impl Subscription {
    async fn next_event(&mut self) -> Option<Result<Event, EventLogError>> {
        loop {
            if self.failed || self.remaining == Some(0) {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                if let Some(remaining) = &mut self.remaining {
                    *remaining -= 1;
                }
                return Some(Ok(event));
            }
            if self.next < self.replay_until {
                if let Err(error) = self.replay_page().await {
                    self.failed = true;
                    return Some(Err(error));
                }
                continue;
            }
            if let Some(batch) = self.pending.take() {
                self.take_live(&batch);
                continue;
            }
            let live = self.live.as_mut()?;
            match live.recv().await {
                Ok(batch) => self.on_live(batch),
                // Announcements were dropped: everything up to the watermark is in the store.
                Err(RecvError::Lagged(_)) => {
                    self.replay_until = self.shared.last_committed.load(Ordering::SeqCst) + 1;
                }
                // Every batch announced before the writer stopped has been received.
                Err(RecvError::Closed) => self.live = None,
            }
        }
    }

    /// Reads the next page of `next..replay_until` from the store into the buffer.
    async fn replay_page(&mut self) -> Result<(), EventLogError> {
        let page = self
            .store
            .read_events(
                self.next,
                Some(self.replay_until),
                &self.filter,
                REPLAY_PAGE,
            )
            .await?;
        self.next = match page.last() {
            Some(last) if page.len() == REPLAY_PAGE as usize => last.index + 1,
            _ => self.replay_until,
        };
        self.buffer.extend(page);
        Ok(())
    }

    fn on_live(&mut self, batch: Arc<[Event]>) {
        match batch.first() {
            Some(first) if first.index > self.next => {
                // Something between what we have and this batch was missed: replay it first.
                self.replay_until = first.index;
                self.pending = Some(batch);
            }
            Some(_) => self.take_live(&batch),
            None => {}
        }
    }

    fn take_live(&mut self, batch: &[Event]) {
        for event in batch {
            if event.index < self.next {
                continue;
            }
            if self.filter.matches(event) {
                self.buffer.push_back(event.clone());
            }
            self.next = event.index + 1;
        }
    }
}
