//! What an event is: the stored [`Event`] and the [`NewEvent`] a caller appends.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EventLogError;

/// Longest accepted event kind.
const MAX_KIND_LEN: usize = 64;

/// A committed event, as stored and as streamed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the log: strictly increasing, assigned at commit, never reused.
    /// Resume a subscription from `index + 1`.
    pub index: u64,
    /// When the event was committed, in milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Stable kebab-case kind, e.g. `container-started`.
    pub kind: String,
    /// Organisation concerned, if any.
    pub org: Option<String>,
    /// Stack concerned, if any.
    pub stack: Option<String>,
    /// Service concerned, if any.
    pub service: Option<String>,
    /// Container concerned (its name), if any.
    pub container: Option<String>,
    /// Kind-specific details.
    pub payload: Value,
}

/// An event to append: an [`Event`] before the log gives it an index and a timestamp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Stable kebab-case kind, e.g. `container-started`.
    pub kind: String,
    /// Organisation concerned, if any.
    pub org: Option<String>,
    /// Stack concerned, if any.
    pub stack: Option<String>,
    /// Service concerned, if any.
    pub service: Option<String>,
    /// Container concerned (its name), if any.
    pub container: Option<String>,
    /// Kind-specific details; an empty object by default.
    pub payload: Value,
}

impl NewEvent {
    /// An event of `kind` about nothing in particular, with an empty payload.
    pub fn new(kind: impl Into<String>) -> Self {
        NewEvent {
            kind: kind.into(),
            org: None,
            stack: None,
            service: None,
            container: None,
            payload: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the organisation.
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Sets the stack.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }

    /// Sets the service.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the container name.
    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// Checks what the store cannot: the kind is kebab-case.
    pub(crate) fn validate(&self) -> Result<(), EventLogError> {
        if is_kebab_case(&self.kind) {
            Ok(())
        } else {
            Err(EventLogError::InvalidKind {
                kind: self.kind.clone(),
            })
        }
    }

    /// The stored event this becomes at `index`, committed at `ts_ms`.
    pub(crate) fn into_event(self, index: u64, ts_ms: i64) -> Event {
        Event {
            index,
            ts_ms,
            kind: self.kind,
            org: self.org,
            stack: self.stack,
            service: self.service,
            container: self.container,
            payload: self.payload,
        }
    }
}

/// `container-started`, `plugin-disabled`, `scale2-done`: lowercase words of letters and
/// digits, joined by single dashes, starting with a letter.
fn is_kebab_case(kind: &str) -> bool {
    kind.len() <= MAX_KIND_LEN
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::is_kebab_case;

    #[test]
    fn kinds_are_kebab_case() {
        for good in ["container-started", "plugin-disabled", "scale2-done", "x"] {
            assert!(is_kebab_case(good), "{good}");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "",
            "Container-started",
            "container_started",
            "container--started",
            "-started",
            "started-",
            "2-started",
            "container started",
            too_long.as_str(),
        ] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
    }
}
