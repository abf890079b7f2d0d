//! Health, as the engine itself observes it: probes run from the engine against a container's
//! address on its network, or inside it (`exec`). Docker's own health check needs the probe's
//! tools inside the image and never acts on the result; these need nothing in the image.
//!
//! This module owns running one probe and judging its answer. Scheduling (interval, thresholds,
//! start period), acting on liveness and resource sampling build on it.

mod probe;

pub use probe::{Probe, ProbeOutcome};
