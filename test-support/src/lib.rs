//! Helpers the integration tests and benchmarks of every crate share: a Docker engine with the
//! locally built test images, real databases (an SQLite file, a private PostgreSQL schema),
//! engines scoped to a test, and a small HTTP client. A missing service fails the test with
//! what to run; nothing here skips.

// A helper that cannot go on panics or errs with the reason: that is the test's failure report.
#![allow(clippy::unwrap_used)]

pub mod cpln;
pub mod db;
pub mod docker;
pub mod engine;
pub mod git;
pub mod git_http;
pub mod git_ssh;
pub mod http;
pub mod plugins;
pub mod swarm;
