//! The Docker event stream of one engine's containers, as typed [`RuntimeEvent`]s.
//!
//! Owns the subscription filter (container lifecycle events carrying the engine's
//! `dev.windlass.engine` label) and the parsing of Docker's event messages. It must not
//! reconnect or resynchronise: when the daemon closes the stream, the stream ends, and the
//! caller (the reconciler) resubscribes with `since` and resyncs from a listing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptions;
use futures::{Stream, StreamExt, future};
use serde::{Deserialize, Serialize};

use super::error::Op;
use super::labels::LABEL_ENGINE;
use super::{DockerRuntime, REQUEST_TIMEOUT, RuntimeError};

/// The container actions the stream carries; exec, attach, copy… are left out.
const ACTIONS: [&str; 11] = [
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "oom",
    "destroy",
    "pause",
    "unpause",
    "health_status",
];

/// What happened to a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimeAction {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Restarted by Docker.
    Restart,
    /// Its main process exited; see [`RuntimeEvent::exit_code`].
    Die,
    /// Stopped through the API.
    Stop,
    /// Sent a signal through the API; see [`RuntimeEvent::signal`].
    Kill,
    /// Hit its memory limit (a `die` follows).
    Oom,
    /// Removed.
    Destroy,
    /// Paused.
    Pause,
    /// Unpaused.
    Unpause,
    /// Docker's own health check changed state (`healthy`, `unhealthy`, `starting`).
    HealthStatus(String),
    /// An action this version of the runtime does not know.
    Other(String),
}

impl RuntimeAction {
    /// Parses Docker's action string (`"die"`, `"health_status: healthy"`).
    pub fn parse(action: &str) -> RuntimeAction {
        if let Some(status) = action.strip_prefix("health_status") {
            return RuntimeAction::HealthStatus(status.trim_start_matches(':').trim().to_owned());
        }
        match action {
            "create" => RuntimeAction::Create,
            "start" => RuntimeAction::Start,
            "restart" => RuntimeAction::Restart,
            "die" => RuntimeAction::Die,
            "stop" => RuntimeAction::Stop,
            "kill" => RuntimeAction::Kill,
            "oom" => RuntimeAction::Oom,
            "destroy" => RuntimeAction::Destroy,
            "pause" => RuntimeAction::Pause,
            "unpause" => RuntimeAction::Unpause,
            other => RuntimeAction::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for RuntimeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeAction::Create => f.write_str("create"),
            RuntimeAction::Start => f.write_str("start"),
            RuntimeAction::Restart => f.write_str("restart"),
            RuntimeAction::Die => f.write_str("die"),
            RuntimeAction::Stop => f.write_str("stop"),
            RuntimeAction::Kill => f.write_str("kill"),
            RuntimeAction::Oom => f.write_str("oom"),
            RuntimeAction::Destroy => f.write_str("destroy"),
            RuntimeAction::Pause => f.write_str("pause"),
            RuntimeAction::Unpause => f.write_str("unpause"),
            RuntimeAction::HealthStatus(s) => write!(f, "health_status: {s}"),
            RuntimeAction::Other(s) => f.write_str(s),
        }
    }
}

/// One container event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeEvent {
    /// The full container id.
    pub container_id: String,
    /// The container name.
    pub name: String,
    /// The container's image.
    pub image: Option<String>,
    /// What happened.
    pub action: RuntimeAction,
    /// The exit code, on [`RuntimeAction::Die`].
    pub exit_code: Option<i64>,
    /// The signal, on [`RuntimeAction::Kill`].
    pub signal: Option<String>,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
    /// When Docker recorded it.
    pub time: SystemTime,
}

impl RuntimeEvent {
    fn from_docker(message: EventMessage) -> Option<Self> {
        if message.typ != Some(EventMessageTypeEnum::CONTAINER) {
            return None;
        }
        let actor = message.actor?;
        let container_id = actor.id?;
        // Docker mixes its own attributes (name, image, exitCode, signal) into the labels.
        let mut attributes: HashMap<String, String> = actor.attributes.unwrap_or_default();
        // A swarm task's container is the swarm's, not the runtime's (see LABEL_SWARM_TASK).
        if attributes.contains_key(super::labels::LABEL_SWARM_TASK) {
            return None;
        }
        let name = attributes.remove("name").unwrap_or_default();
        let image = attributes.remove("image");
        let exit_code = attributes.remove("exitCode").and_then(|c| c.parse().ok());
        let signal = attributes.remove("signal");
        let time = match (message.time_nano, message.time) {
            (Some(nanos), _) if nanos > 0 => {
                UNIX_EPOCH + Duration::from_nanos(nanos.unsigned_abs())
            }
            (_, Some(secs)) if secs > 0 => UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()),
            _ => SystemTime::now(),
        };
        Some(RuntimeEvent {
            container_id,
            name,
            image,
            action: RuntimeAction::parse(message.action.as_deref().unwrap_or_default()),
            exit_code,
            signal,
            labels: attributes.into_iter().collect(),
            time,
        })
    }
}

/// The stream returned by [`DockerRuntime::events`].
pub type RuntimeEventStream =
    Pin<Box<dyn Stream<Item = Result<RuntimeEvent, RuntimeError>> + Send>>;

/// Docker's `since` parameter: Unix seconds with a nanosecond fraction.
fn since_param(since: SystemTime) -> String {
    let d = since.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

impl DockerRuntime {
    /// Subscribes to lifecycle events (create, start, restart, die, stop, kill, oom, destroy,
    /// pause, unpause, health_status) of containers labelled `dev.windlass.engine=<engine_id>`,
    /// from `since` (Docker replays its recent buffer) or from now.
    ///
    /// The subscription starts when the stream is first polled. The stream ends (`None`) when
    /// the daemon closes it; an error item is always the last one. Reconnecting is the
    /// caller's job: resubscribe with `since` set to the last event's time.
    pub fn events(&self, engine_id: &str, since: Option<SystemTime>) -> RuntimeEventStream {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{LABEL_ENGINE}={engine_id}")],
            ),
            (
                "event".to_owned(),
                ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
            ),
        ]);
        let options = EventsOptions {
            since: since.map(since_param),
            until: None,
            filters: Some(filters),
        };
        let (endpoint, engine) = (self.endpoint.clone(), engine_id.to_owned());
        tracing::debug!(engine_id, ?since, "subscribing to docker events");
        let stream = self
            .docker
            .events(Some(options))
            .filter_map(move |item| {
                let op = Op {
                    endpoint: &endpoint,
                    operation: "watch events of engine",
                    target: &engine,
                    timeout: REQUEST_TIMEOUT,
                };
                future::ready(match item {
                    Ok(message) => RuntimeEvent::from_docker(message).map(Ok),
                    Err(e) => Some(Err(op.error(e))),
                })
            })
            // End after the first error: the connection is gone or out of sync.
            .scan(false, |failed, item| {
                let next = if *failed { None } else { Some(item) };
                *failed = matches!(next, Some(Err(_)));
                future::ready(next)
            });
        Box::pin(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    #[test]
    fn parses_a_die_event() {
        let message = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("die".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(HashMap::from([
                    ("name".into(), "web-1".into()),
                    ("image".into(), "img:1".into()),
                    ("exitCode".into(), "3".into()),
                    ("dev.windlass.engine".into(), "dev-1".into()),
                ])),
            }),
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_123_456_789),
            ..Default::default()
        };
        let event = RuntimeEvent::from_docker(message).expect("container event");
        assert_eq!(event.action, RuntimeAction::Die);
        assert_eq!(event.exit_code, Some(3));
        assert_eq!(event.name, "web-1");
        assert_eq!(event.labels.len(), 1);
        assert_eq!(
            event.time,
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789)
        );
    }

    #[test]
    fn a_swarm_tasks_container_is_not_the_runtimes() {
        let message = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("die".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(HashMap::from([
                    ("dev.windlass.engine".into(), "dev-1".into()),
                    (super::super::labels::LABEL_SWARM_TASK.into(), "t1".into()),
                ])),
            }),
            ..Default::default()
        };
        assert_eq!(RuntimeEvent::from_docker(message), None);
    }

    #[test]
    fn parses_actions() {
        assert_eq!(
            RuntimeAction::parse("health_status: healthy"),
            RuntimeAction::HealthStatus("healthy".into())
        );
        assert_eq!(RuntimeAction::parse("oom"), RuntimeAction::Oom);
        assert_eq!(
            RuntimeAction::parse("exec_start: sh"),
            RuntimeAction::Other("exec_start: sh".into())
        );
        assert_eq!(
            RuntimeAction::HealthStatus("healthy".into()).to_string(),
            "health_status: healthy"
        );
    }

    #[test]
    fn since_has_nanoseconds() {
        assert_eq!(since_param(UNIX_EPOCH + Duration::new(5, 7)), "5.000000007");
    }
}
