//! A container's output as Docker keeps it: stdout and stderr, each line with Docker's
//! timestamp, once or followed as the container writes.
//!
//! Owns the translation of Docker's multiplexed log frames into lines. It must not keep,
//! filter or interpret output (a caller decides what a line means).

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures::{Stream, StreamExt as _, stream};
use serde::{Deserialize, Serialize};

use super::error::Op;
use super::{DockerRuntime, REQUEST_TIMEOUT, RuntimeError};

/// Which lines [`DockerRuntime::logs`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only the last this many lines (all when `None`).
    pub tail: Option<u64>,
    /// Only lines written at or after this time, in seconds since the Unix epoch.
    pub since: Option<i64>,
    /// Keep the stream open and return lines as they are written, until the container stops
    /// (or the stream is dropped).
    pub follow: bool,
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// Standard output (also a TTY's combined output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogSource {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One line a container wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogLine {
    /// When Docker received it: RFC 3339 with nanoseconds, UTC (`2026-01-02T03:04:05.123456789Z`).
    pub timestamp: String,
    /// stdout or stderr.
    pub stream: LogSource,
    /// The line without its newline (lossy UTF-8).
    pub text: String,
}

impl std::fmt::Display for LogLine {
    /// `TIMESTAMP STREAM TEXT`, the form the HTTP API streams.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.timestamp,
            self.stream.as_str(),
            self.text
        )
    }
}

/// Splits one Docker log frame (one or more `TIMESTAMP text\n` lines) into lines.
fn frame_lines(source: LogSource, bytes: &[u8]) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(bytes);
    text.split_terminator('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let (timestamp, text) = line.split_once(' ').unwrap_or((line, ""));
            LogLine {
                timestamp: timestamp.to_owned(),
                stream: source,
                text: text.to_owned(),
            }
        })
        .collect()
}

impl DockerRuntime {
    /// A container's stdout and stderr as lines with Docker's timestamps, oldest first. With
    /// `follow` the stream stays open until the container stops; otherwise it ends after the
    /// lines written so far. The first error ends the stream.
    pub fn logs(
        &self,
        container: &str,
        options: LogOptions,
    ) -> impl Stream<Item = Result<LogLine, RuntimeError>> + Send + 'static {
        let query = LogsOptions {
            follow: options.follow,
            stdout: true,
            stderr: true,
            // Docker takes an i32; a time beyond it is "everything" either way.
            since: options
                .since
                .map_or(0, |s| i32::try_from(s.max(0)).unwrap_or(i32::MAX)),
            until: 0,
            timestamps: true,
            tail: options
                .tail
                .map_or_else(|| "all".to_owned(), |n| n.to_string()),
        };
        let (endpoint, target) = (self.endpoint.clone(), container.to_owned());
        self.docker
            .logs(container, Some(query))
            .map(move |item| match item {
                Ok(LogOutput::StdErr { message }) => Ok(frame_lines(LogSource::Stderr, &message)),
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => Ok(frame_lines(LogSource::Stdout, &message)),
                Err(e) => Err(Op {
                    endpoint: &endpoint,
                    operation: "read logs of",
                    target: &target,
                    timeout: REQUEST_TIMEOUT,
                }
                .error(e)),
            })
            .scan(false, |failed, item| {
                let next = if *failed { None } else { Some(item) };
                *failed = matches!(next, Some(Err(_)));
                futures::future::ready(next)
            })
            .flat_map(|item| match item {
                Ok(lines) => stream::iter(lines.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_splits_into_timestamped_lines() {
        let lines = frame_lines(
            LogSource::Stderr,
            b"2026-01-02T03:04:05.000000001Z one\n2026-01-02T03:04:06.5Z two words\r\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].timestamp, "2026-01-02T03:04:05.000000001Z");
        assert_eq!(lines[0].text, "one");
        assert_eq!(lines[1].text, "two words");
        assert_eq!(lines[1].stream, LogSource::Stderr);
        assert_eq!(
            lines[1].to_string(),
            "2026-01-02T03:04:06.5Z stderr two words"
        );
        let empty = frame_lines(LogSource::Stdout, b"2026-01-02T03:04:05Z \n");
        assert_eq!((empty.len(), empty[0].text.as_str()), (1, ""));
    }
}
