//! Health, as the engine itself observes it: probes run from the engine against a container's
//! address on its network, or inside it (`exec`). Docker's own health check needs the probe's
//! tools inside the image and never acts on the result; these need nothing in the image.
//!
//! `probe` runs one probe and judges its answer; `resources` judges CPU and memory use
//! against thresholds; `check` is what a service declares; `monitor`
//! schedules the checks of every running container, announces transitions and stops containers
//! whose liveness fails (the restart policy then decides what follows).

mod check;
pub(crate) mod monitor;
mod probe;
mod resources;

pub use check::{CheckKind, HealthCheck};
pub use monitor::{CheckState, CheckStatus, ContainerHealth};
pub use probe::{Probe, ProbeOutcome};
pub use resources::{ResourceSample, ResourceStatus, Thresholds};
