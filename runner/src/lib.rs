//! The Windlass runner: the `windlass` binary for operators.
//!
//! `windlass run --config windlass.toml` runs an engine as the file says (the format is the
//! `windlass-config` crate's), serves the HTTP API ([`api`]) and reconciles until Ctrl-C or
//! SIGTERM; the other commands are clients of that API. The engine itself is the `windlass`
//! library, which knows nothing of HTTP, command lines or terminals: this crate is where those
//! live.

pub mod api;
mod cli;
pub mod logging;

pub use cli::{Cli, main};
