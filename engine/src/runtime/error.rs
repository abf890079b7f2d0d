//! The runtime's typed errors and the one place that classifies bollard's errors.
//!
//! Owns the mapping HTTP status → variant (404 → [`RuntimeError::NotFound`], 409 →
//! [`RuntimeError::Conflict`]) and connection failures → [`RuntimeError::Unreachable`]. Every
//! variant keeps Docker's own message and names the operation and the object it was about; it
//! must not retry or log (callers decide).

use std::time::Duration;

/// How to get a Docker daemon running, appended to every "unreachable" error.
const START_HINT: &str = "start the daemon (`sudo systemctl start docker`, or run `dockerd` in \
                          the background) or point the runtime endpoint / DOCKER_HOST at a \
                          running daemon";

/// An error from the Docker runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The Docker daemon could not be reached (socket missing, connection refused or reset).
    #[error("cannot reach the Docker daemon at {endpoint}: {message}; {hint}", hint = START_HINT)]
    Unreachable {
        /// The endpoint the runtime talks to.
        endpoint: String,
        /// What failed, with the underlying message.
        message: String,
    },
    /// The endpoint string has a scheme the runtime does not support.
    #[error(
        "unsupported Docker endpoint {endpoint:?}: expected unix:///path/to/docker.sock, \
         tcp://host:port or http://host:port"
    )]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The daemon's API version is older than the runtime supports.
    #[error(
        "the Docker daemon at {endpoint} speaks API {found}, windlass needs API {required} or \
         newer (Docker 20.10+)"
    )]
    UnsupportedApi {
        /// The endpoint the runtime talks to.
        endpoint: String,
        /// The daemon's API version.
        found: String,
        /// The oldest API version the runtime supports.
        required: String,
    },
    /// The object does not exist (HTTP 404).
    #[error("{operation} {target}: not found: {message}")]
    NotFound {
        /// The operation, e.g. `"inspect container"`.
        operation: &'static str,
        /// The container, network, volume or image it was about.
        target: String,
        /// Docker's message.
        message: String,
    },
    /// The operation conflicts with the object's state (HTTP 409): a name already in use, a
    /// container that is not running, a volume in use.
    #[error("{operation} {target}: conflict: {message}")]
    Conflict {
        /// The operation, e.g. `"create container"`.
        operation: &'static str,
        /// The object it was about.
        target: String,
        /// Docker's message.
        message: String,
    },
    /// The image is not on the Docker host. Windlass never pulls from a registry.
    #[error(
        "image {image:?} is not present on the Docker host: windlass never pulls from a \
         registry, so build or load it locally first (docker build / docker load / docker import)"
    )]
    ImageMissing {
        /// The image reference.
        image: String,
    },
    /// The container spec cannot be turned into a valid Docker request.
    #[error("invalid container spec {target:?}: {reason}")]
    InvalidSpec {
        /// The container name.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// Docker refused the request with another status (400, 500…).
    #[error("{operation} {target}: Docker answered HTTP {status}: {message}")]
    Docker {
        /// The operation.
        operation: &'static str,
        /// The object it was about.
        target: String,
        /// The HTTP status code.
        status: u16,
        /// Docker's message.
        message: String,
    },
    /// No answer within the deadline.
    #[error("{operation} {target}: no answer from Docker within {timeout:?}")]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// The object it was about.
        target: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// Docker answered something the runtime cannot read (an unexpected or incomplete body).
    #[error("{operation} {target}: unexpected answer from Docker: {message}")]
    Protocol {
        /// The operation.
        operation: &'static str,
        /// The object it was about.
        target: String,
        /// What was wrong with the answer.
        message: String,
    },
}

impl RuntimeError {
    /// Whether the object did not exist (a missing image counts).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RuntimeError::NotFound { .. } | RuntimeError::ImageMissing { .. }
        )
    }

    /// Whether the operation conflicted with the object's current state.
    pub fn is_conflict(&self) -> bool {
        matches!(self, RuntimeError::Conflict { .. })
    }

    /// Whether the daemon could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RuntimeError::Unreachable { .. })
    }
}

/// What a failed call was doing, to turn a bollard error into a [`RuntimeError`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) operation: &'static str,
    pub(crate) target: &'a str,
    pub(crate) timeout: Duration,
}

impl Op<'_> {
    /// Classifies a bollard error for this operation.
    pub(crate) fn error(&self, err: bollard::errors::Error) -> RuntimeError {
        use bollard::errors::Error as B;
        let target = self.target.to_owned();
        let operation = self.operation;
        match err {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } => RuntimeError::NotFound {
                operation,
                target,
                message,
            },
            B::DockerResponseServerError {
                status_code: 409,
                message,
            } => RuntimeError::Conflict {
                operation,
                target,
                message,
            },
            B::DockerResponseServerError {
                status_code,
                message,
            } => RuntimeError::Docker {
                operation,
                target,
                status: status_code,
                message,
            },
            B::RequestTimeoutError => RuntimeError::Timeout {
                operation,
                target,
                timeout: self.timeout,
            },
            e @ (B::SocketNotFoundError(_)
            | B::IOError { .. }
            | B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }) => RuntimeError::Unreachable {
                endpoint: self.endpoint.to_owned(),
                message: format!("{operation} {target}: {e}"),
            },
            B::DockerStreamError { error } => RuntimeError::Docker {
                operation,
                target,
                status: 200,
                message: error,
            },
            B::DockerContainerWaitError { error, code } => RuntimeError::Docker {
                operation,
                target,
                status: 200,
                message: format!("{error} (exit code {code})"),
            },
            other => RuntimeError::Protocol {
                operation,
                target,
                message: other.to_string(),
            },
        }
    }

    /// An answer that parsed but lacks something the runtime needs.
    pub(crate) fn protocol(&self, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Protocol {
            operation: self.operation,
            target: self.target.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Op<'static> {
        Op {
            endpoint: "unix:///var/run/docker.sock",
            operation: "stop container",
            target: "web-1",
            timeout: Duration::from_secs(5),
        }
    }

    fn server(status_code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn status_codes_map_to_variants() {
        let e = op().error(server(404, "No such container: web-1"));
        assert!(e.is_not_found(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "stop container web-1: not found: No such container: web-1"
        );
        assert!(op().error(server(409, "is not running")).is_conflict());
        let e = op().error(server(500, "boom"));
        assert!(
            matches!(e, RuntimeError::Docker { status: 500, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("boom") && e.to_string().contains("web-1"));
    }

    #[test]
    fn connection_failures_say_how_to_start_docker() {
        let e = op().error(bollard::errors::Error::SocketNotFoundError(
            "/nope.sock".into(),
        ));
        assert!(e.is_unreachable());
        let msg = e.to_string();
        assert!(
            msg.contains("unix:///var/run/docker.sock") && msg.contains("systemctl start docker"),
            "{msg}"
        );
    }

    #[test]
    fn timeouts_name_the_deadline() {
        let e = op().error(bollard::errors::Error::RequestTimeoutError);
        assert_eq!(
            e.to_string(),
            "stop container web-1: no answer from Docker within 5s"
        );
    }
}
