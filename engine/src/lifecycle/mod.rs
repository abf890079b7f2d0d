//! The container state machine and the restart policy.
//!
//! This module owns the rules — which transitions are legal, when a dead container is started
//! again and after how long — and nothing else: it performs no I/O. The reconciler checks a
//! guard, performs the operation on the runtime, persists the new state, then emits the event
//! (in that order, so a crash between two steps is repaired by the next reconcile pass).

mod restart;
mod state;
mod update;

pub use restart::{Backoff, RestartDecision, RestartPolicy};
pub use state::ContainerState;
pub use update::{UpdateOrder, UpdatePolicy};
