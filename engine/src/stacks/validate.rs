//! Validation of a whole stack: everything that can be checked before any variable is known
//! or any container exists, reported all at once with the path of each field at fault.
//!
//! What it checks, in this order:
//! 1. each service on its own ([`ServiceSpec::validate`](crate::ServiceSpec::validate): name,
//!    image, resource strings, ports, health checks, mounts — its first error), plus the `$`
//!    syntax of its `env` and `provides` values and that every volume it mounts is declared;
//! 2. the graph: unique names, dependencies that exist, no self-dependency, no dependency
//!    listed twice, no cycle ([`graph`](super::graph));
//! 3. the stack's volumes: valid, unique names;
//! 4. conditions that could never be met: `healthy` on a service without a readiness check,
//!    `completed` on one that restarts always;
//! 5. two dependencies of one service providing the same variable, unless the service's own
//!    `env` sets it (the service's own value wins, so there is nothing to choose).

use std::collections::{BTreeMap, BTreeSet};

use super::interpolate::check_syntax;
use super::{Condition, StackError, StackErrors, StackSpec, graph};
use crate::health::CheckKind;
use crate::lifecycle::RestartPolicy;
use crate::spec::validate_name;

impl StackSpec {
    /// Checks the whole stack and returns every error found, each naming its field (e.g.
    /// `services[2].depends_on[0].service: unknown service "db" (services: web, api)`).
    ///
    /// A stack that passes has a [`DependencyGraph`](super::DependencyGraph) and resolves
    /// ([`StackSpec::resolve`]) unless a variable is missing.
    pub fn validate(&self) -> Result<(), StackErrors> {
        let mut errors = Vec::new();
        let declared: BTreeSet<&str> = self.volumes.iter().map(String::as_str).collect();
        for (i, service) in self.services.iter().enumerate() {
            if let Err(error) = service.validate() {
                errors.push(StackError::Service {
                    field: format!("services[{i}].{}", error.field),
                    service: service.name.clone(),
                    message: error.message,
                });
            }
            for (map, values) in [("env", &service.env), ("provides", &service.provides)] {
                for (key, value) in values {
                    if let Err(error) = check_syntax(&format!("services[{i}].{map}.{key}"), value) {
                        errors.push(error);
                    }
                }
            }
            for (m, mount) in service.volumes.iter().enumerate() {
                if !declared.contains(mount.volume.as_str()) {
                    errors.push(StackError::UndeclaredVolume {
                        field: format!("services[{i}].volumes[{m}].volume"),
                        volume: mount.volume.clone(),
                        declared: declared.iter().map(|v| (*v).to_owned()).collect(),
                    });
                }
            }
        }

        errors.extend(graph::check(self));

        let mut seen = BTreeSet::new();
        for (v, volume) in self.volumes.iter().enumerate() {
            let field = format!("volumes[{v}]");
            if let Err(error) = validate_name(&field, volume) {
                errors.push(StackError::InvalidVolume {
                    field,
                    message: error.message,
                });
            } else if !seen.insert(volume.as_str()) {
                errors.push(StackError::DuplicateVolume {
                    field,
                    name: volume.clone(),
                });
            }
        }

        errors.extend(unmeetable_conditions(self));
        errors.extend(provides_conflicts(self));
        StackErrors::check(errors)
    }
}

/// `healthy` without a readiness check, `completed` with restart `always`.
fn unmeetable_conditions(stack: &StackSpec) -> Vec<StackError> {
    let mut errors = Vec::new();
    for (i, service) in stack.services.iter().enumerate() {
        for (j, dep) in service.depends_on.iter().enumerate() {
            let Some(target) = stack.service(&dep.service) else {
                continue; // an unknown dependency, reported by the graph
            };
            let field = format!("services[{i}].depends_on[{j}].condition");
            match dep.condition {
                Condition::Healthy
                    if !target
                        .health_checks
                        .iter()
                        .any(|c| c.kind == CheckKind::Readiness) =>
                {
                    errors.push(StackError::NoReadinessCheck {
                        field,
                        service: service.name.clone(),
                        dependency: dep.service.clone(),
                    });
                }
                Condition::Completed if target.restart == RestartPolicy::Always => {
                    errors.push(StackError::NeverCompletes {
                        field,
                        service: service.name.clone(),
                        dependency: dep.service.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    errors
}

/// A key provided by two direct dependencies of a service that does not set it itself.
fn provides_conflicts(stack: &StackSpec) -> Vec<StackError> {
    let mut errors = Vec::new();
    for (i, service) in stack.services.iter().enumerate() {
        let mut providers: BTreeMap<&str, &str> = BTreeMap::new();
        let mut reported: BTreeSet<&str> = BTreeSet::new();
        for dep in &service.depends_on {
            let Some(target) = stack.service(&dep.service) else {
                continue;
            };
            if target.name == service.name {
                continue; // a self-dependency, reported by the graph
            }
            for key in target.provides.keys() {
                if service.env.contains_key(key) {
                    continue;
                }
                match providers.get(key.as_str()) {
                    Some(first) if *first != target.name && reported.insert(key) => {
                        errors.push(StackError::ProvidesConflict {
                            field: format!("services[{i}].depends_on"),
                            service: service.name.clone(),
                            key: key.clone(),
                            first: (*first).to_owned(),
                            second: target.name.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        providers.insert(key, &target.name);
                    }
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceSpec;
    use crate::health::{HealthCheck, Probe};

    fn ready() -> HealthCheck {
        HealthCheck::new(CheckKind::Readiness, Probe::Tcp { port: 5432 })
    }

    fn messages(stack: &StackSpec) -> Vec<String> {
        match stack.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
        }
    }

    fn web_postgres() -> StackSpec {
        StackSpec::new()
            .with_volume("pgdata")
            .with_service(
                ServiceSpec::new("db", "local/postgres:15")
                    .with_env("POSTGRES_PASSWORD", "${db_password:?set db_password}")
                    .with_provides("DATABASE_URL", "postgres://app:${db_password}@db:5432/app")
                    .with_volume("pgdata", "/var/lib/postgresql/data", false)
                    .with_health_check(ready()),
            )
            .with_service(
                ServiceSpec::new("api", "local/api:1")
                    .with_dependency("db", Condition::Healthy)
                    .with_dependency("migrate", Condition::Completed),
            )
            .with_service(
                ServiceSpec::new("migrate", "local/api:1")
                    .with_dependency("db", Condition::Healthy)
                    .with_restart(RestartPolicy::Never),
            )
            .with_service(
                ServiceSpec::new("web", "local/web:1").with_dependency("api", Condition::Started),
            )
    }

    #[test]
    fn a_good_stack_is_valid() {
        assert_eq!(web_postgres().validate(), Ok(()));
        assert_eq!(
            StackSpec::new().validate(),
            Ok(()),
            "an empty stack is valid"
        );
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let mut stack = web_postgres();
        stack.services[0].memory = Some("1.5g".into());
        stack.services[0].env.insert("BAD".into(), "cost $5".into());
        stack.services[1]
            .depends_on
            .push(crate::stacks::Dependency::new("cache", Condition::Started));
        stack.services[3].volumes.push(crate::VolumeMount {
            volume: "uploads".into(),
            path: "/srv".into(),
            read_only: false,
        });
        stack.volumes.push("pgdata".into());
        stack.volumes.push("Bad_Name".into());
        assert_eq!(
            messages(&stack),
            [
                "services[0].memory: invalid memory quantity \"1.5g\": decimals are not accepted, \
                 use a smaller unit (\"1536m\", not \"1.5g\"); accepted: bytes (\"1048576\") or a \
                 whole number with a binary unit k/K/Ki, m/M/Mi, g/G/Gi, t/T/Ti (\"512m\", \
                 \"512Mi\", \"1g\", \"1Gi\"; \"512M\" is 512 MiB like Docker), greater than zero",
                "services[0].env.BAD: a lone `$`: write `$$` for a literal dollar or `${NAME}` for \
                 a variable at character 6",
                "services[3].volumes[0].volume: volume \"uploads\" is not declared in the stack's \
                 volumes (Bad_Name, pgdata)",
                "services[1].depends_on[2].service: unknown service \"cache\" (services: api, db, \
                 migrate, web)",
                "volumes[1]: duplicate volume \"pgdata\"",
                "volumes[2]: `Bad_Name` is not a valid name: use 1 to 40 lowercase letters, digits \
                 and `-`, starting with a letter and not ending with `-`",
            ]
        );
    }

    #[test]
    fn a_cycle_and_a_self_dependency_are_reported() {
        let stack = StackSpec::new()
            .with_service(
                ServiceSpec::new("api", "img").with_dependency("worker", Condition::Started),
            )
            .with_service(
                ServiceSpec::new("worker", "img").with_dependency("api", Condition::Started),
            )
            .with_service(
                ServiceSpec::new("solo", "img").with_dependency("solo", Condition::Started),
            );
        assert_eq!(
            messages(&stack),
            [
                "services[2].depends_on[0].service: service \"solo\" cannot depend on itself",
                "services[0].depends_on[0].service: dependency cycle: api -> worker -> api",
            ]
        );
    }

    #[test]
    fn service_errors_carry_the_service_and_its_index() {
        let stack = StackSpec::new().with_service(ServiceSpec::new("Web", "img"));
        let errors = stack.validate().unwrap_err();
        assert!(matches!(
            &errors.errors()[0],
            StackError::Service { field, service, .. } if field == "services[0].name" && service == "Web"
        ));
    }

    #[test]
    fn conditions_that_can_never_be_met_are_refused() {
        let mut stack = web_postgres();
        stack.services[0].health_checks.clear();
        stack.services[2].restart = RestartPolicy::Always;
        assert_eq!(
            messages(&stack),
            [
                "services[1].depends_on[0].condition: \"api\" waits for \"db\" to be healthy, but \
                 \"db\" declares no readiness check; add one or wait for `started`",
                "services[1].depends_on[1].condition: \"api\" waits for \"migrate\" to complete, \
                 but \"migrate\" restarts always and so never completes; give it restart `never` \
                 or `on-failure`",
                "services[2].depends_on[0].condition: \"migrate\" waits for \"db\" to be healthy, \
                 but \"db\" declares no readiness check; add one or wait for `started`",
            ]
        );
        // A liveness check is not a readiness check.
        stack.services[0].health_checks.push(HealthCheck::new(
            CheckKind::Liveness,
            Probe::Tcp { port: 1 },
        ));
        assert_eq!(messages(&stack).len(), 3);
    }

    #[test]
    fn two_providers_of_one_key_conflict_unless_the_service_chooses() {
        let stack = StackSpec::new()
            .with_service(
                ServiceSpec::new("db", "img")
                    .with_provides("DATABASE_URL", "a")
                    .with_provides("SHARED", "1"),
            )
            .with_service(
                ServiceSpec::new("replica", "img")
                    .with_provides("DATABASE_URL", "b")
                    .with_provides("SHARED", "2"),
            )
            .with_service(
                ServiceSpec::new("api", "img")
                    .with_dependency("db", Condition::Started)
                    .with_dependency("replica", Condition::Started)
                    .with_env("SHARED", "mine"),
            );
        assert_eq!(
            messages(&stack),
            [
                "services[2].depends_on: \"api\" gets DATABASE_URL from both \"db\" and \"replica\"; \
              set DATABASE_URL in its own env to choose"
            ]
        );
    }
}
