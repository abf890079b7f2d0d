//! One probe of one container: HTTP, TCP or a command inside it.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::route::{InNetwork, first_address};
use crate::runtime::{ContainerInfo, DockerRuntime};

/// The most of an HTTP answer a probe reads (status line, headers and the start of the body).
const MAX_ANSWER: usize = 64 * 1024;

/// How the engine checks a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Probe {
    /// `GET path` on the container's address; healthy when the status is in `status` and, if
    /// set, the body contains `body_contains`.
    Http {
        /// The container port.
        port: u16,
        /// The request path, starting with `/`.
        path: String,
        /// Statuses that count as healthy, inclusive.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::StatusRange))]
        status: RangeInclusive<u16>,
        /// A substring the body must contain.
        body_contains: Option<String>,
    },
    /// A TCP connect to the container's address; healthy when it is accepted.
    Tcp {
        /// The container port.
        port: u16,
    },
    /// A command inside the container; healthy when it exits with 0.
    Exec {
        /// The command and its arguments.
        command: Vec<String>,
    },
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeOutcome {
    /// Whether the container passed.
    pub healthy: bool,
    /// What was seen: `HTTP 200`, `connection refused`, `exit code 1: …`.
    pub detail: String,
    /// How long the probe took.
    #[cfg_attr(feature = "openapi", schema(value_type = windlass_host_api::openapi::DurationSchema))]
    pub took: Duration,
}

impl Probe {
    /// An HTTP probe expecting a 2xx or 3xx answer.
    pub fn http(port: u16, path: impl Into<String>) -> Self {
        Self::Http {
            port,
            path: path.into(),
            status: 200..=399,
            body_contains: None,
        }
    }

    /// Runs the probe against `container` with a deadline, from the engine (HTTP and TCP go
    /// to the container's address; see [`Engine::probe`](crate::Engine::probe) for probes run
    /// the way the engine's monitor runs them). Never fails: a probe that cannot run (no
    /// address, a timeout, Docker refusing the exec) is an unhealthy outcome saying why.
    pub async fn run(
        &self,
        runtime: &DockerRuntime,
        container: &ContainerInfo,
        timeout: Duration,
    ) -> ProbeOutcome {
        self.run_from(runtime, container, timeout, None).await.0
    }

    /// [`Probe::run`], with HTTP and TCP from the probe container `via` when given. Also says
    /// whether the container's address was unroutable from here (network or host
    /// unreachable), which the `auto` probe mode takes as a reason to probe in-network.
    pub(crate) async fn run_from(
        &self,
        runtime: &DockerRuntime,
        container: &ContainerInfo,
        timeout: Duration,
        via: Option<&InNetwork>,
    ) -> (ProbeOutcome, bool) {
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(timeout, self.attempt(runtime, container, timeout, via)).await;
        let (healthy, detail, unroutable) = match outcome {
            Ok(Ok((healthy, detail))) => (healthy, detail, false),
            Ok(Err(failed)) => (false, failed.reason, failed.unroutable),
            Err(_) => (
                false,
                format!("no answer within {} ms", timeout.as_millis()),
                false,
            ),
        };
        let outcome = ProbeOutcome {
            healthy,
            detail,
            took: started.elapsed(),
        };
        (outcome, unroutable)
    }

    async fn attempt(
        &self,
        runtime: &DockerRuntime,
        container: &ContainerInfo,
        timeout: Duration,
        via: Option<&InNetwork>,
    ) -> Result<(bool, String), Failed> {
        match self {
            Self::Http {
                port,
                path,
                status,
                body_contains,
            } => {
                let address = address(container, *port)?;
                let request = format!(
                    "GET {path} HTTP/1.0\r\nHost: {address}\r\nUser-Agent: windlass-probe\r\nConnection: close\r\n\r\n"
                );
                let answer = match via {
                    None => http_exchange(address, &request).await.map_err(Failed::io)?,
                    Some(via) => via
                        .exchange(runtime, address, &request, timeout)
                        .await
                        .map_err(Failed::other)?,
                };
                let code = status_code(&answer)
                    .ok_or_else(|| Failed::other("not an HTTP answer".to_owned()))?;
                if !status.contains(&code) {
                    return Ok((false, format!("HTTP {code}")));
                }
                if let Some(needle) = body_contains
                    && !body(&answer).contains(needle.as_str())
                {
                    return Ok((false, format!("HTTP {code}, body without {needle:?}")));
                }
                Ok((true, format!("HTTP {code}")))
            }
            Self::Tcp { port } => {
                let address = address(container, *port)?;
                match via {
                    None => {
                        tokio::net::TcpStream::connect(address)
                            .await
                            .map_err(Failed::io)?;
                    }
                    Some(via) => via
                        .connect(runtime, address, timeout)
                        .await
                        .map_err(Failed::other)?,
                }
                Ok((true, format!("connected to {address}")))
            }
            Self::Exec { command } => {
                let output = runtime
                    .exec(&container.id, command, timeout)
                    .await
                    .map_err(|e| Failed::other(e.to_string()))?;
                let stderr = output.stderr.trim();
                let detail = match (output.exit_code, stderr.is_empty()) {
                    (code, true) => format!("exit code {code}"),
                    (code, false) => format!("exit code {code}: {}", truncate(stderr, 200)),
                };
                Ok((output.exit_code == 0, detail))
            }
        }
    }
}

/// Why a probe could not judge an answer.
struct Failed {
    reason: String,
    /// The address is not routable from where the probe ran.
    unroutable: bool,
}

impl Failed {
    fn other(reason: String) -> Self {
        Self {
            reason,
            unroutable: false,
        }
    }

    fn io(error: std::io::Error) -> Self {
        use std::io::ErrorKind;
        Self {
            unroutable: matches!(
                error.kind(),
                ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable
            ),
            reason: error.to_string(),
        }
    }
}

/// The container's address on its first network with an IP.
fn address(container: &ContainerInfo, port: u16) -> Result<SocketAddr, Failed> {
    first_address(container)
        .map(|(_, ip)| SocketAddr::new(ip, port))
        .ok_or_else(|| {
            Failed::other(format!(
                "container {} has no network address (is it running?)",
                container.name
            ))
        })
}

/// A minimal HTTP/1.0 exchange: enough for a status line and the start of a body.
async fn http_exchange(address: SocketAddr, request: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    while answer.len() < MAX_ANSWER {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    Ok(answer)
}

fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn body(answer: &[u8]) -> String {
    let start = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    String::from_utf8_lossy(&answer[start..]).into_owned()
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let answer = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nnot yet";
        assert_eq!(status_code(answer), Some(503));
        assert_eq!(body(answer), "not yet");
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn probes_serialise_with_their_type() {
        let probe = Probe::http(8080, "/healthz");
        let json = serde_json::to_value(&probe).unwrap();
        assert_eq!(json["type"], "http");
        assert_eq!(serde_json::from_value::<Probe>(json).unwrap(), probe);
    }
}
