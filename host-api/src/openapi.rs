//! Schemas (for the `openapi` feature) of the standard types serde writes in its own shape, so
//! the types that contain them can derive `utoipa::ToSchema` with `#[schema(value_type = …)]`.

use utoipa::ToSchema;

/// A point in time as serde writes `std::time::SystemTime`.
#[derive(Debug, ToSchema)]
#[schema(as = SystemTime)]
pub struct SystemTimeSchema {
    /// Whole seconds since the Unix epoch.
    pub secs_since_epoch: u64,
    /// The nanoseconds within that second.
    #[schema(maximum = 999_999_999)]
    pub nanos_since_epoch: u32,
}

/// A length of time as serde writes `std::time::Duration`.
#[derive(Debug, ToSchema)]
#[schema(as = Duration)]
pub struct DurationSchema {
    /// Whole seconds.
    pub secs: u64,
    /// The nanoseconds beyond them.
    #[schema(maximum = 999_999_999)]
    pub nanos: u32,
}
