//! A Control Plane (cpln) API fixture for the inventory's tests and benchmarks: an HTTP server
//! on `127.0.0.1:0` that serves workload listings (the list envelope, paginated by `next`
//! links) and workload deployments (`status.versions[].containers`,
//! `status.jobExecutions[].containers`), with per-request latency, chosen faults (429 bursts
//! with and without `Retry-After`, a quota 429, 403, 404, 5xx) and counters of calls per path.
//! What it models and what it leaves out is in `docs/inventory.md`.

mod model;
mod server;

pub use model::{Fault, FixtureSpec, Workload, WorkloadKind};
pub use server::CplnFixture;
