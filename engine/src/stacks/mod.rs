//! The stack model: several services declared together, with dependencies between them,
//! environment interpolation and the connection details a dependency injects into its
//! dependents.
//!
//! This module is pure logic: it parses, checks and derives, and never talks to Docker, the
//! store or a plugin. Deploying a stack in dependency order belongs to the engine.
//!
//! The flow, for a stack rendered by a template plugin (a stack from TOML or the API starts
//! at step 3):
//!
//! 1. [`RenderParams::check`] checks the operator's parameters against the template's
//!    `describe()` list and applies defaults;
//! 2. the template renders; [`StackSpec::from_rendered`] maps its answer into a [`StackSpec`];
//! 3. [`StackSpec::validate`] reports every problem at once, each with its field path;
//! 4. [`StackSpec::resolve`] interpolates `env` and `provides` with [`Variables`] (the
//!    parameters and the engine's own values) and injects each dependency's `provides` into
//!    its dependents, giving a [`ResolvedStack`];
//! 5. its [`DependencyGraph`] gives the start order as waves and what each service waits for.
//!
//! ```
//! use windlass::ServiceSpec;
//! use windlass::health::{CheckKind, HealthCheck, Probe};
//! use windlass::stacks::{Condition, StackSpec, Variables};
//!
//! let stack = StackSpec::new()
//!     .with_service(
//!         ServiceSpec::new("db", "local/postgres:15")
//!             .with_provides("DATABASE_URL", "postgres://app:${db_password}@db:5432/app")
//!             .with_health_check(HealthCheck::new(CheckKind::Readiness, Probe::Tcp { port: 5432 })),
//!     )
//!     .with_service(ServiceSpec::new("api", "local/api:1").with_dependency("db", Condition::Healthy));
//! stack.validate()?;
//!
//! let mut vars = Variables::for_stack("acme", "shop");
//! vars.insert("params.db_password", "db_password", "s3cret")?;
//! let resolved = stack.resolve(&vars)?;
//! assert_eq!(
//!     resolved.service("api").and_then(|s| s.env.get("DATABASE_URL")).map(String::as_str),
//!     Some("postgres://app:s3cret@db:5432/app")
//! );
//! assert_eq!(resolved.graph().waves(), [vec!["db"], vec!["api"]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod from_plugin;
mod graph;
mod inject;
mod interpolate;
mod params;
mod spec;
mod validate;

pub use error::{StackError, StackErrors};
pub use graph::DependencyGraph;
pub use inject::ResolvedStack;
pub use interpolate::{Variables, escape, interpolate};
pub use params::{ParamValue, RenderParams};
pub use spec::{Condition, Dependency, StackSpec};
