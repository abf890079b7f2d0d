//! A build's record: its state machine, what it built and what came out. Persisted by the
//! store (`builds` table), shown by the API.

use serde::{Deserialize, Serialize};

/// Where a build is. `queued → cloning → detecting → building → succeeded | failed |
/// cancelled`; `failed` and `cancelled` can be reached from every running state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum BuildState {
    /// Waiting for a free build slot (the concurrency limit).
    Queued,
    /// Fetching the source.
    Cloning,
    /// Asking the strategies to detect and plan.
    Detecting,
    /// Docker is building the image.
    Building,
    /// The image is built (and handed to the service as a new revision).
    Succeeded,
    /// It failed; the record says why.
    Failed,
    /// Someone cancelled it.
    Cancelled,
}

impl BuildState {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Cloning => "cloning",
            Self::Detecting => "detecting",
            Self::Building => "building",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Cloning,
            Self::Detecting,
            Self::Building,
            Self::Succeeded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether nothing more happens to the build.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Whether the build may move to `next` (forward only, never out of a terminal state).
    pub fn can_become(self, next: BuildState) -> bool {
        if self.is_terminal() {
            return false;
        }
        match next {
            Self::Failed | Self::Cancelled => true,
            Self::Queued => false,
            Self::Cloning => self == Self::Queued,
            Self::Detecting => self == Self::Cloning,
            Self::Building => self == Self::Detecting,
            Self::Succeeded => self == Self::Building,
        }
    }
}

impl std::fmt::Display for BuildState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The commit a build built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitInfo {
    /// The full SHA.
    pub sha: String,
    /// `Name <email>`.
    pub author: String,
    /// The subject line of its message.
    pub message: String,
}

/// One build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildRecord {
    /// The build's id (`b-` and 16 hex digits).
    pub id: String,
    /// The service it builds.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// Where it is.
    pub state: BuildState,
    /// What started it: `api`, `declared` (a service declared with a build source),
    /// `webhook-github`, `webhook-gitlab`, `webhook-bitbucket`.
    pub trigger: String,
    /// The repository.
    pub source: String,
    /// The reference asked for; none = the default branch.
    pub reference: Option<String>,
    /// What was fetched, once cloned.
    pub commit: Option<CommitInfo>,
    /// The strategy plugin that planned it.
    pub strategy: Option<String>,
    /// The plan as the strategy returned it (language, framework, evidence, phases, the
    /// Dockerfile), for people.
    pub plan: Option<serde_json::Value>,
    /// The image built (its tag).
    pub image: Option<String>,
    /// Its size in bytes.
    pub image_size: Option<i64>,
    /// The service revision the image became.
    pub deployed_revision: Option<u64>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// What usually causes such a failure, and what to do.
    pub hint: Option<String>,
    /// When it was queued, in ms since the Unix epoch.
    pub queued_ms: i64,
    /// When it left the queue.
    pub started_ms: Option<i64>,
    /// When it reached a terminal state.
    pub finished_ms: Option<i64>,
}

impl BuildRecord {
    /// From leaving the queue to the end, in ms, once finished.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_ms? - self.started_ms.unwrap_or(self.queued_ms))
    }
}

/// Which builds [`Engine::builds`](crate::Engine::builds) returns, newest first.
#[derive(Clone, Debug, Default)]
pub struct BuildFilter {
    /// Only this org's.
    pub org: Option<String>,
    /// Only this stack's (with `org`).
    pub stack: Option<String>,
    /// Only this service's (with `org` and `stack`).
    pub service: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::BuildState::*;
    use super::*;

    #[test]
    fn the_state_machine_moves_forward_only() {
        assert!(Queued.can_become(Cloning));
        assert!(Cloning.can_become(Detecting));
        assert!(Detecting.can_become(Building));
        assert!(Building.can_become(Succeeded));
        assert!(Queued.can_become(Cancelled));
        assert!(Building.can_become(Failed));
        assert!(!Queued.can_become(Building));
        assert!(!Succeeded.can_become(Failed));
        assert!(!Cancelled.can_become(Cloning));
        assert!(!Building.can_become(Queued));
        for s in [
            Queued, Cloning, Detecting, Building, Succeeded, Failed, Cancelled,
        ] {
            assert_eq!(BuildState::parse(s.as_str()), Some(s));
        }
    }
}
