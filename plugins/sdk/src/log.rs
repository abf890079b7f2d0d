//! Logging into the host's log (the `host.log` import), tagged by the host with the plugin's name.
//!
//! Use the functions, or the `format!`-style macros [`trace!`](crate::trace),
//! [`debug!`](crate::debug), [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error):
//!
//! ```
//! windlass_plugin_sdk::log::info("rendering");
//! windlass_plugin_sdk::warn!("replicas capped at {}", 20);
//! ```
//!
//! Off wasm32 (native unit tests) lines go to stderr.

pub use crate::types::LogLevel;
pub use crate::{debug, error, info, trace, warn};

/// Writes `message` to the host's log at `level`.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::stack_template::windlass::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes `message` at level trace.
pub fn trace(message: &str) {
    log(LogLevel::Trace, message);
}

/// Writes `message` at level debug.
pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

/// Writes `message` at level info.
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// Writes `message` at level warn.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

/// Writes `message` at level error.
pub fn error(message: &str) {
    log(LogLevel::Error, message);
}

/// Logs a `format!`-style message at level trace.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Trace, &::std::format!($($arg)+)) };
}

/// Logs a `format!`-style message at level debug.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Debug, &::std::format!($($arg)+)) };
}

/// Logs a `format!`-style message at level info.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Info, &::std::format!($($arg)+)) };
}

/// Logs a `format!`-style message at level warn.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Warn, &::std::format!($($arg)+)) };
}

/// Logs a `format!`-style message at level error.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Error, &::std::format!($($arg)+)) };
}
