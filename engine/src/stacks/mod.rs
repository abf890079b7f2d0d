//! Stacks rendered by template plugins, as far as the engine can run them today.
//!
//! Interim: this module only converts each rendered service into a [`ServiceSpec`] the
//! engine can [`apply`](crate::Engine::apply), and says what it had to leave out. The real
//! stack support — the dependency graph with readiness gates, `provides` injection, `${VAR}`
//! interpolation, stack volumes with labels, rolling updates — is someone else's work and will
//! replace this; until then the runner applies every service of a stack at once.
//!
//! [`ServiceSpec`]: crate::ServiceSpec

mod convert;

pub use convert::{ConvertedService, convert_service, convert_stack};
