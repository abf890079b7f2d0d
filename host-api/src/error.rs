//! Typed errors of the plugin host.
//!
//! Two families: [`LoadError`] when a plugin cannot be loaded (bad file, wrong contract, link
//! failure) and [`CallError`] when a call fails. Every variant names the plugin, so a message
//! read out of context still says who failed.

use std::path::PathBuf;

use crate::PluginKind;

/// Why a plugin could not be loaded or reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The component file could not be read.
    #[error("plugin `{plugin}`: cannot read {}: {source}", path.display())]
    Read {
        /// The plugin's name.
        plugin: String,
        /// The file that could not be read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component, or it failed to compile.
    #[error("plugin `{plugin}`: not a valid component: {reason}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The component is valid but needs more than the host's instance pool gives one
    /// component (memories, tables, core instances): the true reason, not "invalid".
    #[error(
        "plugin `{plugin}`: a valid component that does not fit the host's instance pool: \
         {reason} (the pool gives one component at most 8 memories, 16 tables and 32 core \
         instances)"
    )]
    PoolLimit {
        /// The plugin's name.
        plugin: String,
        /// What wasmtime's pooling allocator said.
        reason: String,
    },
    /// The component exports none of the plugin interfaces.
    #[error(
        "plugin `{plugin}`: not a Windlass plugin: it exports none of the `windlass:plugin` \
         interfaces (template, build, billing, adapter); it exports [{exports}]"
    )]
    NotAPlugin {
        /// The plugin's name.
        plugin: String,
        /// The export names found, comma-separated.
        exports: String,
    },
    /// The component exports the interfaces of more than one plugin kind.
    #[error(
        "plugin `{plugin}`: exports more than one plugin kind ({kinds}); a plugin has exactly one"
    )]
    SeveralKinds {
        /// The plugin's name.
        plugin: String,
        /// The kinds found.
        kinds: String,
    },
    /// The plugin was built against a contract version this host cannot run.
    #[error(
        "plugin `{plugin}` was built against windlass:plugin@{plugin_version}, but this host \
         implements windlass:plugin@{host_version}: {reason}"
    )]
    IncompatibleContract {
        /// The plugin's name.
        plugin: String,
        /// The contract version the plugin was built against.
        plugin_version: semver::Version,
        /// The contract version this host implements.
        host_version: semver::Version,
        /// Why the versions do not match.
        reason: &'static str,
    },
    /// The configuration says one kind and the component is another.
    #[error("plugin `{plugin}` is configured as a {expected} but the component is a {found}")]
    KindMismatch {
        /// The plugin's name.
        plugin: String,
        /// The kind the configuration (or the running plugin, on reload) expects.
        expected: PluginKind,
        /// The kind the component implements.
        found: PluginKind,
    },
    /// The component imports something the host does not offer to its kind.
    #[error("plugin `{plugin}` ({kind}) cannot be linked: {reason}")]
    Link {
        /// The plugin's name.
        plugin: String,
        /// The plugin's kind.
        kind: PluginKind,
        /// What is missing, as wasmtime says it.
        reason: String,
    },
    /// A grant in the plugin's configuration is unusable (e.g. a directory that does not exist).
    #[error("plugin `{plugin}`: bad grant: {reason}")]
    BadGrant {
        /// The plugin's name.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether a compile error is the pooling allocator refusing a valid component.
pub(crate) fn is_pool_limit(reason: &str) -> bool {
    reason.contains("pooling allocator")
        || reason.contains("per-instance limit")
        || reason.contains("unsupported in this pooling allocator configuration")
}

/// Why a call into a plugin failed.
///
/// The sandbox errors (`Trap`, `Timeout`, `MemoryLimit`, `FuelExhausted`, `OutputTooLarge`,
/// `OutboundDenied`) count towards the plugin's failure policy; `Disabled` and `Guest` do not.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access...).
    #[error(
        "plugin `{plugin}` trapped in `{function}`: {message}{}",
        render_tail(guest_stderr)
    )]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// The trap's description.
        message: String,
        /// The guest backtrace, one frame per line, when available.
        backtrace: Option<String>,
        /// The last lines the guest wrote to stderr during the call (a panic message lands here).
        guest_stderr: String,
    },
    /// The call ran past its wall-clock deadline and was interrupted.
    #[error("plugin `{plugin}` timed out in `{function}` after {timeout_ms} ms")]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// The deadline that was exceeded.
        timeout_ms: u64,
    },
    /// The guest tried to grow a memory or table past the instance's memory budget.
    #[error(
        "plugin `{plugin}` hit its memory cap of {limit_bytes} bytes in `{function}` (its memories and tables would total {requested_bytes} bytes)"
    )]
    MemoryLimit {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// The cap.
        limit_bytes: u64,
        /// The total of every memory and table of the instance the guest asked to grow to.
        requested_bytes: u64,
    },
    /// The call used up its fuel.
    #[error("plugin `{plugin}` ran out of fuel ({fuel} units) in `{function}`")]
    FuelExhausted {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// The fuel it had.
        fuel: u64,
    },
    /// The value the guest returned is larger than the plugin's output limit.
    #[error(
        "plugin `{plugin}` returned more than {limit_bytes} bytes from `{function}`; the output was discarded"
    )]
    OutputTooLarge {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// The limit.
        limit_bytes: u64,
    },
    /// The guest made an HTTP request to a host the operator did not grant.
    #[error(
        "plugin `{plugin}` tried to reach `{host}`, which is not granted; to allow it add \
         \"{host}\" to the plugin's grants.outbound_hosts"
    )]
    OutboundDenied {
        /// The plugin's name.
        plugin: String,
        /// The host (and port) it tried to reach.
        host: String,
    },
    /// The plugin was disabled by its failure policy and must be reloaded.
    #[error(
        "plugin `{plugin}` is disabled after {failures} consecutive failures (last: {last_error}); reload it to enable it again"
    )]
    Disabled {
        /// The plugin's name.
        plugin: String,
        /// The consecutive failures that disabled it.
        failures: u32,
        /// The last failure's message.
        last_error: String,
    },
    /// An error in the host itself while setting up or running the call.
    #[error("plugin `{plugin}`: host error in `{function}`: {message}")]
    Host {
        /// The plugin's name.
        plugin: String,
        /// The export called.
        function: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl CallError {
    /// The plugin the error is about.
    pub fn plugin(&self) -> &str {
        match self {
            Self::Trap { plugin, .. }
            | Self::Timeout { plugin, .. }
            | Self::MemoryLimit { plugin, .. }
            | Self::FuelExhausted { plugin, .. }
            | Self::OutputTooLarge { plugin, .. }
            | Self::OutboundDenied { plugin, .. }
            | Self::Disabled { plugin, .. }
            | Self::Host { plugin, .. } => plugin,
        }
    }

    /// A stable machine-readable code for the error, for APIs and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Trap { .. } => "plugin-trap",
            Self::Timeout { .. } => "plugin-timeout",
            Self::MemoryLimit { .. } => "plugin-memory-limit",
            Self::FuelExhausted { .. } => "plugin-fuel-exhausted",
            Self::OutputTooLarge { .. } => "plugin-output-too-large",
            Self::OutboundDenied { .. } => "plugin-outbound-denied",
            Self::Disabled { .. } => "plugin-disabled",
            Self::Host { .. } => "plugin-host-error",
        }
    }

    /// Whether this failure counts towards the plugin's failure policy.
    pub fn counts_as_failure(&self) -> bool {
        !matches!(self, Self::Disabled { .. } | Self::Host { .. })
    }
}

fn render_tail(stderr: &str) -> String {
    let tail = stderr.trim();
    if tail.is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {tail}")
    }
}
