//! Guest stdout and stderr, routed to `tracing` with the plugin's name.
//!
//! Output is split into lines; each line becomes one event (`info` for stdout, `warn` for
//! stderr). The last few lines of stderr are also kept for the call's error, because that is
//! where a Rust guest writes its panic message. A guest cannot flood the log: past a per-call
//! budget in bytes and lines ([`crate::guest_log::LogBudget`]) further output is dropped, and one
//! line says so; each line is escaped so that it cannot pass for a line of the host's own.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::guest_log::{LogBudget, escape};

/// Bytes of stderr kept for error messages.
const TAIL_BYTES: usize = 2 * 1024;
/// A longer line is logged in pieces.
const MAX_LINE: usize = 4 * 1024;

/// Which stream a [`GuestOutput`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Inner {
    line: Vec<u8>,
    budget: LogBudget,
    tail: Vec<u8>,
}

/// One guest output stream for one call. Clones share the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
    inner: Arc<Mutex<Inner>>,
}

impl GuestOutput {
    pub(crate) fn new(plugin: Arc<str>, stream: Stream, budget: LogBudget) -> Self {
        Self {
            plugin,
            stream,
            inner: Arc::new(Mutex::new(Inner {
                line: Vec::new(),
                budget,
                tail: Vec::new(),
            })),
        }
    }

    /// The last lines written, for an error message (stderr only keeps them).
    pub(crate) fn tail(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut tail = inner.tail.clone();
        tail.extend_from_slice(&inner.line);
        String::from_utf8_lossy(&tail).trim().to_owned()
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if self.stream == Stream::Stderr {
            inner.tail.extend_from_slice(bytes);
            let excess = inner.tail.len().saturating_sub(TAIL_BYTES);
            inner.tail.drain(..excess);
        }
        for &byte in bytes {
            if byte == b'\n' || inner.line.len() >= MAX_LINE {
                let line = std::mem::take(&mut inner.line);
                self.emit(&mut inner, &line);
                if byte != b'\n' {
                    inner.line.push(byte);
                }
            } else {
                inner.line.push(byte);
            }
        }
    }

    fn flush_line(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.line.is_empty() {
            let line = std::mem::take(&mut inner.line);
            self.emit(&mut inner, &line);
        }
    }

    fn emit(&self, inner: &mut Inner, line: &[u8]) {
        if !inner.budget.take(line.len()) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = escape(&text);
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "windlass::plugin", plugin = %self.plugin, stream = "stdout", text = %text, "plugin output")
            }
            Stream::Stderr => {
                tracing::warn!(target: "windlass::plugin", plugin = %self.plugin, stream = "stderr", text = %text, "plugin output")
            }
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_line();
        Poll::Ready(Ok(()))
    }
}

/// Flushes both streams' partial lines at the end of a call.
pub(crate) fn finish(outputs: &[&GuestOutput]) {
    for output in outputs {
        output.flush_line();
    }
}
