//! Errors of the event log.

use std::sync::Arc;

use crate::store::StoreError;

/// An error from the [`EventLog`](super::EventLog) or one of its streams.
///
/// Cloneable because one failed batch commit fails every append that was in it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventLogError {
    /// The store failed; for an append, none of the batch's events were stored.
    #[error("event store failed")]
    Store(#[source] Arc<StoreError>),
    /// The log was closed (or its writer stopped); nothing more can be appended.
    #[error("the event log is closed")]
    Closed,
    /// An event kind must be kebab-case: lowercase ASCII letters and digits in words joined by
    /// single `-`, starting with a letter, at most 64 characters (e.g. `container-started`).
    #[error("invalid event kind `{kind}`: expected kebab-case such as `container-started`")]
    InvalidKind {
        /// The rejected kind.
        kind: String,
    },
}

impl From<StoreError> for EventLogError {
    fn from(error: StoreError) -> Self {
        EventLogError::Store(Arc::new(error))
    }
}
