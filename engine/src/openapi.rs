//! Schemas (for the `openapi` feature) of what serde writes in a shape of its own, so the
//! engine's API types can derive `utoipa::ToSchema`: CPU and memory quantities (strings) and an
//! inclusive range of HTTP statuses.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::resources::{CpuMillis, MemoryBytes};

/// Healthy statuses of an HTTP probe, both ends included (serde's `RangeInclusive`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // only its schema is used
pub(crate) struct StatusRange {
    /// The lowest healthy status.
    #[schema(minimum = 100, maximum = 999)]
    start: u16,
    /// The highest healthy status.
    #[schema(minimum = 100, maximum = 999)]
    end: u16,
}

/// A quantity written as a string and read from a string or an integer.
fn quantity(description: &str) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some(description))
        .into()
}

impl PartialSchema for CpuMillis {
    fn schema() -> RefOr<Schema> {
        quantity("CPU cores: `\"0.5\"`, `\"500m\"`, `\"2\"` (written as a string)")
    }
}

impl ToSchema for CpuMillis {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CpuQuantity")
    }
}

impl PartialSchema for MemoryBytes {
    fn schema() -> RefOr<Schema> {
        quantity("Memory: `\"512Mi\"`, `\"1g\"` or bytes (written as a string)")
    }
}

impl ToSchema for MemoryBytes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MemoryQuantity")
    }
}
