//! The states a managed container slot goes through, with their guards.

use std::fmt;
use std::str::FromStr;

/// The state of one managed container slot, as the engine records it.
///
/// ```text
///            create            start
///  Pending ─────────► Created ───────► Running ──stop──► Stopped
///     ▲                  ▲               │
///     │ (slot replaced)  │ restart       │ died
///     │                  │ (after backoff)▼
///     └──────────────── BackingOff ◄── Exited ──(policy gives up)──► Failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ContainerState {
    /// Desired, not yet created.
    Pending,
    /// Created on the runtime, not started.
    Created,
    /// Running.
    Running,
    /// Exited on its own (or was killed); the restart policy decides what follows.
    Exited,
    /// Waiting for its backoff delay before a restart.
    BackingOff,
    /// Stopped on purpose by the engine or an operator; not restarted.
    Stopped,
    /// The restart policy gave up; an operator must act (or a new revision replaces it).
    Failed,
}

impl ContainerState {
    /// Every state, in a stable order.
    pub const ALL: [ContainerState; 7] = [
        Self::Pending,
        Self::Created,
        Self::Running,
        Self::Exited,
        Self::BackingOff,
        Self::Stopped,
        Self::Failed,
    ];

    /// The state's name as stored and shown (`backing-off`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Created => "created",
            Self::Running => "running",
            Self::Exited => "exited",
            Self::BackingOff => "backing-off",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// Whether the container may be created now.
    pub fn can_create(self) -> bool {
        matches!(self, Self::Pending)
    }

    /// Whether the container may be started now (a restart after backoff included).
    pub fn can_start(self) -> bool {
        matches!(self, Self::Created | Self::BackingOff)
    }

    /// Whether the container may be stopped now.
    pub fn can_stop(self) -> bool {
        matches!(self, Self::Running | Self::Created)
    }

    /// Whether a death of the container is news (the engine did not stop it on purpose).
    pub fn can_die(self) -> bool {
        matches!(self, Self::Running)
    }

    /// Whether the restart policy has a say (the container exited on its own).
    pub fn awaits_restart_decision(self) -> bool {
        matches!(self, Self::Exited)
    }

    /// Whether the engine leaves the slot alone until something changes (a new revision, an
    /// operator's start).
    pub fn is_settled_down(self) -> bool {
        matches!(self, Self::Stopped | Self::Failed)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`ContainerState`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown container state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for ContainerState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in ContainerState::ALL {
            assert_eq!(state.as_str().parse::<ContainerState>(), Ok(state));
        }
        assert!("zombie".parse::<ContainerState>().is_err());
    }

    #[test]
    fn guards_follow_the_diagram() {
        use ContainerState::*;
        let startable: Vec<_> = ContainerState::ALL
            .into_iter()
            .filter(|s| s.can_start())
            .collect();
        assert_eq!(startable, [Created, BackingOff]);
        assert!(Running.can_die() && !Stopped.can_die() && !Exited.can_die());
        assert!(Pending.can_create() && !Running.can_create());
        assert!(Stopped.is_settled_down() && Failed.is_settled_down() && !Exited.is_settled_down());
    }
}
