//! Health, as the engine itself observes it: probes run from the engine against a container's
//! address on its network, or inside it (`exec`). Docker's own health check needs the probe's
//! tools inside the image and never acts on the result; these need nothing in the image.
//!
//! `probe` runs one probe and judges its answer; `route` decides where HTTP and TCP probes run
//! from (the engine, or a probe container on the stack network when the engine cannot reach
//! container addresses); `check` is what a service declares; `monitor`
//! runs the checks of every running container on their own timers, announces transitions and
//! stops containers whose liveness fails (the restart policy then decides what follows).
//! `resources` judges CPU and memory use against thresholds; `sampler` follows Docker's stats
//! stream of every running container and announces status changes; `snapshot` persists
//! everyone's health at an interval and prunes it by age.

mod check;
pub(crate) mod monitor;
mod probe;
mod resources;
pub(crate) mod route;
pub(crate) mod sampler;
pub(crate) mod snapshot;

pub use check::{CheckKind, HealthCheck};
pub use monitor::{CheckState, CheckStatus, ContainerHealth, LAG_BUCKETS, ProbeStats};
pub use probe::{Probe, ProbeOutcome};
pub use resources::{ResourceSample, ResourceStatus, Thresholds};
pub use route::{DEFAULT_PROBE_IMAGE, LABEL_PROBE, ProbeMode};
pub use snapshot::{CheckSummary, HealthReport, HealthSnapshot, SnapshotReport};
