//! Running a command inside a running container and collecting its exit code and output
//! (exec health probes, operator commands).
//!
//! Owns the exec create/start/inspect sequence and the output cap. It must not interpret exit
//! codes (a probe decides what a failure means).

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{DockerRuntime, RuntimeError};

/// At most this many bytes of each of stdout and stderr are kept.
const OUTPUT_CAP: usize = 64 * 1024;

/// The result of a command run with [`DockerRuntime::exec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecOutput {
    /// The command's exit code (126/127 when it cannot be run or found).
    pub exit_code: i64,
    /// Its standard output (lossy UTF-8, at most 64 KiB).
    pub stdout: String,
    /// Its standard error (lossy UTF-8, at most 64 KiB).
    pub stderr: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
}

fn append(buf: &mut Vec<u8>, bytes: &[u8], truncated: &mut bool) {
    let room = OUTPUT_CAP.saturating_sub(buf.len());
    if bytes.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

impl DockerRuntime {
    /// Runs `command` in the running `container` and waits for it, at most `timeout`.
    ///
    /// On timeout the result is [`RuntimeError::Timeout`] and the process is left running in
    /// the container (Docker cannot kill an exec); probes should run commands that end.
    #[instrument(name = "runtime.exec", skip(self))]
    pub async fn exec(
        &self,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, RuntimeError> {
        let op = self.op("exec in", container);
        if command.is_empty() {
            return Err(RuntimeError::InvalidSpec {
                target: container.to_owned(),
                reason: "empty exec command".into(),
            });
        }
        let run = async {
            let options = CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(command.to_vec()),
                ..Default::default()
            };
            let created = self
                .docker
                .create_exec(container, options)
                .await
                .map_err(|e| op.error(e))?;
            let start = StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            };
            let started = self
                .docker
                .start_exec(&created.id, Some(start))
                .await
                .map_err(|e| op.error(e))?;
            let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
            if let StartExecResults::Attached { mut output, .. } = started {
                while let Some(frame) = output.next().await {
                    match frame.map_err(|e| op.error(e))? {
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            append(&mut stdout, &message, &mut truncated);
                        }
                        LogOutput::StdErr { message } => {
                            append(&mut stderr, &message, &mut truncated)
                        }
                        LogOutput::StdIn { .. } => {}
                    }
                }
            }
            // The output ends when the process exits; Docker records the exit code a moment
            // later.
            loop {
                let inspected = self
                    .docker
                    .inspect_exec(&created.id)
                    .await
                    .map_err(|e| op.error(e))?;
                match (inspected.running, inspected.exit_code) {
                    (Some(false), Some(exit_code)) => {
                        return Ok(ExecOutput {
                            exit_code,
                            stdout: String::from_utf8_lossy(&stdout).into_owned(),
                            stderr: String::from_utf8_lossy(&stderr).into_owned(),
                            truncated,
                        });
                    }
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| RuntimeError::Timeout {
                operation: op.operation,
                target: container.to_owned(),
                timeout,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped() {
        let (mut buf, mut truncated) = (Vec::new(), false);
        append(&mut buf, &[b'a'; OUTPUT_CAP - 1], &mut truncated);
        assert!(!truncated);
        append(&mut buf, b"bc", &mut truncated);
        assert!(truncated);
        assert_eq!(buf.len(), OUTPUT_CAP);
        assert_eq!(buf.last(), Some(&b'b'));
    }
}
