//! The stack as declared: services, the dependencies between them, and the volumes they share.
//!
//! A stack comes from TOML, from the engine API (JSON) or from a stack-template plugin
//! ([`StackSpec::from_rendered`]); all three produce this one type. Deserialisation is strict:
//! an unknown key anywhere is an error naming it.

use serde::{Deserialize, Serialize};

use crate::ServiceSpec;

/// A whole stack: its services and the named volumes they mount.
///
/// In TOML:
///
/// ```toml
/// volumes = ["pgdata"]
///
/// [[services]]
/// name = "db"
/// image = "local/postgres:15"
/// volumes = [{ volume = "pgdata", path = "/var/lib/postgresql/data" }]
/// provides = { DATABASE_URL = "postgres://app:${db_password}@db:5432/app" }
/// health_checks = [{ kind = "readiness", probe = { type = "tcp", port = 5432 } }]
///
/// [[services]]
/// name = "api"
/// image = "local/api:1"
/// depends_on = [{ service = "db", condition = "healthy" }]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    /// The services, each a [`ServiceSpec`] with its `depends_on` and `provides`. Their order
    /// carries no meaning beyond error paths (`services[2]`): the start order comes from the
    /// dependencies ([`DependencyGraph`](super::DependencyGraph)).
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// The named volumes of the stack. Every volume a service mounts must be declared here;
    /// their data survives redeploys.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Where its services run unless they name a target of their own: `local` (the default)
    /// or a configured adapter target ([`crate::placement`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl StackSpec {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service.
    pub fn with_service(mut self, service: ServiceSpec) -> Self {
        self.services.push(service);
        self
    }

    /// Declares a named volume.
    pub fn with_volume(mut self, volume: impl Into<String>) -> Self {
        self.volumes.push(volume.into());
        self
    }

    /// The service called `name`, if any (the first one, should names repeat).
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// When a dependency counts as satisfied for the service waiting for it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// The dependency's containers are running (the default, as in Compose).
    #[default]
    Started,
    /// The dependency's readiness checks pass; it must declare at least one.
    Healthy,
    /// The dependency ran to completion with exit code 0: a one-shot job such as a migration.
    Completed,
}

impl Condition {
    /// The condition's name as written in TOML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Healthy => "healthy",
            Self::Completed => "completed",
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service that another waits for, and what it waits for it to reach.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The name of another service of the same stack.
    pub service: String,
    /// What "ready" means for it (default `started`).
    #[serde(default)]
    pub condition: Condition,
}

impl Dependency {
    /// A dependency on `service` reaching `condition`.
    pub fn new(service: impl Into<String>, condition: Condition) -> Self {
        Self {
            service: service.into(),
            condition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckKind, HealthCheck, Probe};

    const TOML_STACK: &str = r#"
volumes = ["pgdata"]

[[services]]
name = "db"
image = "local/postgres:15"
volumes = [{ volume = "pgdata", path = "/var/lib/postgresql/data" }]
provides = { DATABASE_URL = "postgres://app:${db_password}@db:5432/app" }
health_checks = [{ kind = "readiness", probe = { type = "tcp", port = 5432 } }]

[[services]]
name = "api"
image = "local/api:1"
depends_on = [{ service = "db", condition = "healthy" }, { service = "migrate" }]

[[services]]
name = "migrate"
image = "local/api:1"
command = ["migrate"]
restart = { mode = "never" }
"#;

    #[test]
    fn a_stack_parses_from_toml() {
        let stack: StackSpec = toml::from_str(TOML_STACK).unwrap();
        let expected = StackSpec::new()
            .with_volume("pgdata")
            .with_service(
                ServiceSpec::new("db", "local/postgres:15")
                    .with_volume("pgdata", "/var/lib/postgresql/data", false)
                    .with_provides("DATABASE_URL", "postgres://app:${db_password}@db:5432/app")
                    .with_health_check(HealthCheck::new(
                        CheckKind::Readiness,
                        Probe::Tcp { port: 5432 },
                    )),
            )
            .with_service(
                ServiceSpec::new("api", "local/api:1")
                    .with_dependency("db", Condition::Healthy)
                    .with_dependency("migrate", Condition::Started),
            )
            .with_service(
                ServiceSpec::new("migrate", "local/api:1")
                    .with_command(["migrate"])
                    .with_restart(crate::lifecycle::RestartPolicy::Never),
            );
        assert_eq!(stack, expected);
        assert_eq!(
            stack.service("api").map(|s| s.depends_on[1].condition),
            Some(Condition::Started),
            "the condition defaults to started"
        );
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let cases = [
            ("colour = \"blue\"", "colour"),
            (
                "[[services]]\nname = \"a\"\nimage = \"i\"\nneeds = []",
                "needs",
            ),
            (
                "[[services]]\nname = \"a\"\nimage = \"i\"\ndepends_on = [{ service = \"b\", when = \"healthy\" }]",
                "when",
            ),
        ];
        for (text, key) in cases {
            let error = toml::from_str::<StackSpec>(text).unwrap_err().to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
        let error = toml::from_str::<StackSpec>(
            "[[services]]\nname = \"a\"\nimage = \"i\"\ndepends_on = [{ service = \"b\", condition = \"ready\" }]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("ready") && error.contains("healthy"),
            "an unknown condition lists the accepted ones: {error}"
        );
    }

    #[test]
    fn json_round_trips() {
        let stack: StackSpec = toml::from_str(TOML_STACK).unwrap();
        let json = serde_json::to_string(&stack).unwrap();
        assert_eq!(serde_json::from_str::<StackSpec>(&json).unwrap(), stack);
    }

    #[test]
    fn conditions_have_stable_names() {
        for (condition, name) in [
            (Condition::Started, "started"),
            (Condition::Healthy, "healthy"),
            (Condition::Completed, "completed"),
        ] {
            assert_eq!(condition.to_string(), name);
            assert_eq!(
                serde_json::to_value(condition).unwrap(),
                serde_json::json!(name)
            );
        }
    }
}
