//! Helpers shared by the integration tests.

pub mod db;
pub mod docker;
pub mod engine;
pub mod http;
