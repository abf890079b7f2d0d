//! One call into a plugin: the fresh store it runs in, the deadline, and what happens after —
//! classifying a failure, checking the output's size, feeding the failure policy.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasmtime::Store;

use crate::CallError;
use crate::host::InFlight;
use crate::plugin::{Loaded, Plugin};
use crate::sandbox::CallState;

/// One call in progress: the store, the component version it runs on, the in-flight guard.
pub(crate) struct Call {
    pub(crate) plugin: Plugin,
    pub(crate) function: &'static str,
    pub(crate) loaded: Arc<Loaded>,
    pub(crate) store: Store<CallState>,
    pub(crate) _in_flight: InFlight,
}

impl Call {
    /// The wall-clock deadline of the call.
    pub fn timeout(&self) -> Duration {
        self.plugin.inner.limits.timeout
    }

    /// An error for a call made through the wrong typed handle (never expected: reload keeps
    /// the kind).
    pub fn wrong_kind(&self) -> CallError {
        CallError::Host {
            plugin: self.plugin.name().to_owned(),
            function: self.function,
            message: format!("the loaded component is a {}", self.loaded.kind),
        }
    }

    /// Ends the call: classifies a failure, checks the output's size, and feeds the failure
    /// policy.
    pub fn finish<T: serde::Serialize>(
        mut self,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        self.settle(outcome)
    }

    /// Like [`Call::finish`] but keeps the store, for sessions that call again.
    pub fn settle<T: serde::Serialize>(
        &mut self,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        let state = self.store.data_mut();
        crate::stdio::finish(&[&state.stdout, &state.stderr]);
        let denied = state.hooks.denied.pop();
        let result = match outcome {
            Err(_elapsed) => Err(self.timeout_error()),
            Ok(Err(error)) => Err(self.classify(error)),
            Ok(Ok(value)) => self.check_output(value),
        };
        // A denied request is reported even when the guest swallowed the error.
        let result = match (result, denied) {
            (Ok(_) | Err(CallError::Trap { .. }), Some(host)) => Err(CallError::OutboundDenied {
                plugin: self.plugin.name().to_owned(),
                host,
            }),
            (result, _) => result,
        };
        match &result {
            Ok(_) => self.plugin.record_success(),
            Err(error) if error.counts_as_failure() => {
                self.plugin.record_failure(self.function, error)
            }
            Err(_) => {}
        }
        result
    }

    /// Starts the next call of a session on the same store: a new name and a new deadline.
    pub fn rearm(&mut self, function: &'static str) {
        self.function = function;
        self.plugin.inner.calls.fetch_add(1, Ordering::Relaxed);
        self.store.data_mut().deadline = Instant::now() + self.plugin.inner.limits.timeout;
        self.store
            .set_epoch_deadline(self.plugin.inner.slice_ticks());
    }

    /// Whether the plugin has been disabled since the call started.
    pub fn disabled_error(&self) -> Option<CallError> {
        self.plugin.disabled_error()
    }

    fn timeout_error(&self) -> CallError {
        CallError::Timeout {
            plugin: self.plugin.name().to_owned(),
            function: self.function,
            timeout_ms: self.timeout().as_millis() as u64,
        }
    }

    fn classify(&self, error: wasmtime::Error) -> CallError {
        let plugin = self.plugin.name().to_owned();
        let function = self.function;
        let state = self.store.data();
        if let Some(requested) = state.limiter.hit {
            return CallError::MemoryLimit {
                plugin,
                function,
                limit_bytes: state.limiter_limit(),
                requested_bytes: requested,
            };
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => return self.timeout_error(),
            Some(wasmtime::Trap::OutOfFuel) => {
                return CallError::FuelExhausted {
                    plugin,
                    function,
                    fuel: self.plugin.inner.limits.fuel.unwrap_or(u64::MAX),
                };
            }
            _ => {}
        }
        let backtrace = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|bt| bt.to_string())
            .filter(|bt| !bt.trim().is_empty());
        let message = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        CallError::Trap {
            plugin,
            function,
            message,
            backtrace,
            guest_stderr: state.stderr.tail(),
        }
    }

    fn check_output<T: serde::Serialize>(&self, value: T) -> Result<T, CallError> {
        let limit = self.plugin.inner.limits.max_output_bytes;
        let mut counter = ByteCounter { count: 0, limit };
        match serde_json::to_writer(&mut counter, &value) {
            Ok(()) => Ok(value),
            Err(_) => Err(CallError::OutputTooLarge {
                plugin: self.plugin.name().to_owned(),
                function: self.function,
                limit_bytes: limit,
            }),
        }
    }
}

impl CallState {
    fn limiter_limit(&self) -> u64 {
        self.spec.memory_bytes
    }
}

/// Counts bytes written and fails past a limit, so measuring a huge value stops early.
struct ByteCounter {
    count: u64,
    limit: u64,
}

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.count += buf.len() as u64;
        if self.count > self.limit {
            return Err(std::io::Error::other("output limit exceeded"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
