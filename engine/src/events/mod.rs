//! The event log: every lifecycle transition, health change, deployment step, plugin failure
//! and billing decision, indexed, persisted and streamed.
//!
//! The module owns the one invariant that makes resuming safe: **events are written before
//! they are announced**. A single writer task (`writer.rs`) assigns monotonically increasing
//! indexes, commits batches to the [`Store`](crate::Store), and only then announces them to
//! live subscribers; a subscription (`subscribe.rs`) replays from the store and then follows
//! the announcements with neither gap nor duplicate. History queries and retention read and
//! prune the same table.
//!
//! It must not interpret events: kinds and payloads belong to the modules that emit them.

mod error;
mod event;
mod filter;
mod log;
mod retention;
mod subscribe;
mod writer;

pub use error::EventLogError;
pub use event::{Event, NewEvent};
pub use filter::EventFilter;
pub use log::{EventLog, EventLogConfig};
pub use retention::RetentionPolicy;
pub use subscribe::EventStream;
