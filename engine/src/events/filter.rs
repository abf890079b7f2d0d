//! Which events a history query or a subscription wants.

use super::Event;

/// Selects events by org, stack and kind, from an index on, at most `limit` of them.
///
/// For [`EventLog::query`](super::EventLog::query), `limit` caps the page (default
/// [`EventFilter::DEFAULT_QUERY_LIMIT`], at most [`EventFilter::MAX_QUERY_LIMIT`]); page on by
/// querying again from the last index + 1. For
/// [`EventLog::subscribe_filtered`](super::EventLog::subscribe_filtered), `limit` ends the
/// stream after that many events (no limit by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this org.
    pub org: Option<String>,
    /// Only events of this stack.
    pub stack: Option<String>,
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only events with `index >= from_index` (0 and 1 both mean from the start).
    pub from_index: u64,
    /// At most this many events.
    pub limit: Option<u32>,
}

impl EventFilter {
    /// Page size of a query without a limit.
    pub const DEFAULT_QUERY_LIMIT: u32 = 1_000;
    /// Largest page a query returns, whatever its limit.
    pub const MAX_QUERY_LIMIT: u32 = 10_000;

    /// Every event from `from_index` on.
    pub fn from_index(from_index: u64) -> Self {
        EventFilter {
            from_index,
            ..EventFilter::default()
        }
    }

    /// Keeps only events of `org`.
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Keeps only events of `stack`.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }

    /// Keeps only events of `kind`.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Caps the number of events.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether `event` passes the org, stack and kind conditions (not the index or limit).
    pub fn matches(&self, event: &Event) -> bool {
        fn field_matches(wanted: &Option<String>, actual: &Option<String>) -> bool {
            wanted.is_none() || wanted == actual
        }
        field_matches(&self.org, &event.org)
            && field_matches(&self.stack, &event.stack)
            && self.kind.as_ref().is_none_or(|kind| *kind == event.kind)
    }
}
