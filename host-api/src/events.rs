//! What the host announces about plugins. The engine persists these in its event log.

use crate::{CallError, CompileSource, PluginKind};

/// Something that happened to a plugin.
#[derive(Debug, Clone)]
pub struct PluginEvent {
    /// The plugin's name.
    pub plugin: String,
    /// What happened.
    pub kind: PluginEventKind,
}

/// The kinds of [`PluginEvent`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PluginEventKind {
    /// The plugin was loaded (or reloaded, replacing an earlier version).
    Loaded {
        /// The plugin's kind.
        kind: PluginKind,
        /// The contract version it was built against.
        contract_version: String,
        /// The sha256 of the component.
        sha256: String,
        /// Whether it was compiled or came from the cache.
        compiled: CompileSource,
        /// Whether this replaced a running version.
        reload: bool,
        /// Why its instances are allocated on demand although the host asked for the pooling
        /// allocator; `None` when the host has the pool or was told not to use it.
        pool_unavailable: Option<String>,
    },
    /// A call failed in the sandbox (trap, timeout, limit, denied request...).
    CallFailed {
        /// The export called.
        function: &'static str,
        /// The error.
        error: CallError,
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// The failure policy disabled the plugin.
    Disabled {
        /// The consecutive failures that disabled it.
        failures: u32,
        /// The last error's message.
        last_error: String,
    },
}
