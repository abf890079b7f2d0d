//! Resolution: the environment each service of a valid stack actually gets.
//!
//! A service's environment is, from lowest to highest precedence:
//! 1. the `provides` of each service it depends on *directly* (interpolated), in dependency
//!    order — two dependencies providing the same key is a validation error, so the order never
//!    decides anything;
//! 2. its own `env` (interpolated), which always wins: a service can override what a
//!    dependency offers.
//!
//! Only direct dependencies inject: a `web` that needs the `DATABASE_URL` the `db` of its `api`
//! provides must depend on `db` itself, so what a service receives is visible in its own
//! declaration. Values are interpolated with the stack's [`Variables`] only — a dependency's
//! `provides` cannot refer to its own `env` — and exactly once: the result is a
//! [`ResolvedStack`], whose values are final and never interpolated again.

use std::collections::BTreeMap;

use super::interpolate::interpolate;
use super::{DependencyGraph, StackError, StackErrors, StackSpec, Variables};
use crate::ServiceSpec;

/// A validated stack whose services carry their final environment, with its dependency graph:
/// what a deployer applies, wave by wave.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStack {
    services: Vec<ServiceSpec>,
    volumes: Vec<String>,
    graph: DependencyGraph,
}

impl ResolvedStack {
    /// The services, in declaration order, each with its final `env` (its own, interpolated,
    /// plus what its dependencies provide) and its `provides` interpolated.
    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The named volumes of the stack.
    pub fn volumes(&self) -> &[String] {
        &self.volumes
    }

    /// The dependency graph: start and stop order, what each service waits for.
    pub fn graph(&self) -> &DependencyGraph {
        &self.graph
    }

    /// The services, owned.
    pub fn into_services(self) -> Vec<ServiceSpec> {
        self.services
    }
}

impl StackSpec {
    /// Validates the stack, interpolates every `env` and `provides` value with `vars` and
    /// injects what each dependency provides into its dependents. Returns every error found:
    /// validation errors if there are any, else every interpolation error (each naming the
    /// variable and the field, e.g. `services[1].env.DATABASE_URL`).
    pub fn resolve(&self, vars: &Variables) -> Result<ResolvedStack, StackErrors> {
        self.validate()?;
        let graph = DependencyGraph::new(self)?;
        let mut errors = Vec::new();

        let mut provided: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for (i, service) in self.services.iter().enumerate() {
            let values = interpolate_map(i, "provides", &service.provides, vars, &mut errors);
            provided.insert(&service.name, values);
        }

        let mut services = Vec::with_capacity(self.services.len());
        for (i, service) in self.services.iter().enumerate() {
            let own = interpolate_map(i, "env", &service.env, vars, &mut errors);
            let mut env = BTreeMap::new();
            for dep in &service.depends_on {
                if let Some(values) = provided.get(dep.service.as_str()) {
                    env.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            env.extend(own);
            services.push(ServiceSpec {
                env,
                provides: provided
                    .get(service.name.as_str())
                    .cloned()
                    .unwrap_or_default(),
                ..service.clone()
            });
        }
        StackErrors::check(errors)?;
        Ok(ResolvedStack {
            services,
            volumes: self.volumes.clone(),
            graph,
        })
    }
}

fn interpolate_map(
    index: usize,
    map: &str,
    values: &BTreeMap<String, String>,
    vars: &Variables,
    errors: &mut Vec<StackError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in values {
        match interpolate(&format!("services[{index}].{map}.{key}"), value, vars) {
            Ok(value) => {
                out.insert(key.clone(), value);
            }
            Err(error) => errors.push(error),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckKind, HealthCheck, Probe};
    use crate::stacks::{Condition, escape};
    use proptest::prelude::*;

    fn stack() -> StackSpec {
        StackSpec::new()
            .with_service(
                ServiceSpec::new("db", "local/postgres:15")
                    .with_env("POSTGRES_PASSWORD", "${db_password}")
                    .with_provides(
                        "DATABASE_URL",
                        "postgres://app:${db_password}@db:5432/${WINDLASS_STACK}",
                    )
                    .with_provides("PGHOST", "db")
                    .with_health_check(HealthCheck::new(
                        CheckKind::Readiness,
                        Probe::Tcp { port: 5432 },
                    )),
            )
            .with_service(
                ServiceSpec::new("api", "local/api:1")
                    .with_dependency("db", Condition::Healthy)
                    .with_env("PGHOST", "db-primary")
                    .with_env("PRICE", "$$5")
                    .with_provides("API_URL", "http://api:8080"),
            )
            .with_service(
                ServiceSpec::new("web", "local/web:1").with_dependency("api", Condition::Started),
            )
    }

    fn vars() -> Variables {
        let mut vars = Variables::for_stack("acme", "shop");
        vars.insert("params.db_password", "db_password", "p$w")
            .unwrap();
        vars
    }

    fn env(stack: &ResolvedStack, service: &str) -> Vec<(String, String)> {
        stack
            .service(service)
            .unwrap()
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn dependents_get_what_their_dependencies_provide() {
        let resolved = stack().resolve(&vars()).unwrap();
        assert_eq!(env(&resolved, "db"), pairs(&[("POSTGRES_PASSWORD", "p$w")]));
        assert_eq!(
            env(&resolved, "api"),
            pairs(&[
                ("DATABASE_URL", "postgres://app:p$w@db:5432/shop"),
                ("PGHOST", "db-primary"), // its own env wins over what db provides
                ("PRICE", "$5"),
            ])
        );
        // Only direct dependencies inject: web gets the API's URL, not the database's.
        assert_eq!(
            env(&resolved, "web"),
            pairs(&[("API_URL", "http://api:8080")])
        );
        assert_eq!(
            resolved
                .service("db")
                .unwrap()
                .provides
                .get("DATABASE_URL")
                .map(String::as_str),
            Some("postgres://app:p$w@db:5432/shop")
        );
        assert_eq!(
            resolved.graph().waves(),
            [vec!["db"], vec!["api"], vec!["web"]]
        );
        assert_eq!(resolved.services().len(), 3);
        assert!(resolved.volumes().is_empty());
    }

    #[test]
    fn everything_but_the_environment_is_kept() {
        let original = stack();
        let resolved = original.resolve(&vars()).unwrap();
        for (before, after) in original.services.iter().zip(resolved.into_services()) {
            assert_eq!(
                ServiceSpec {
                    env: before.env.clone(),
                    provides: before.provides.clone(),
                    ..after
                },
                *before
            );
        }
    }

    #[test]
    fn every_missing_variable_is_reported_with_its_field() {
        let errors = stack()
            .resolve(&Variables::for_stack("acme", "shop"))
            .unwrap_err();
        let fields: Vec<&str> = errors.errors().iter().map(StackError::field).collect();
        assert_eq!(
            fields,
            [
                "services[0].provides.DATABASE_URL",
                "services[0].env.POSTGRES_PASSWORD"
            ]
        );
        assert!(errors.errors().iter().all(|e| matches!(
            e,
            StackError::UnknownVariable { variable, .. } if variable == "db_password"
        )));
    }

    #[test]
    fn an_invalid_stack_is_refused_before_interpolation() {
        let invalid = stack().with_service(
            ServiceSpec::new("extra", "img").with_dependency("nope", Condition::Started),
        );
        let errors = invalid.resolve(&Variables::new()).unwrap_err();
        assert!(matches!(
            errors.errors(),
            [StackError::UnknownDependency { dependency, .. }] if dependency == "nope"
        ));
    }

    proptest! {
        #[test]
        fn resolving_never_panics(own in any::<String>(), provided in any::<String>()) {
            let stack = StackSpec::new()
                .with_service(ServiceSpec::new("db", "img").with_provides("URL", provided))
                .with_service(
                    ServiceSpec::new("api", "img")
                        .with_dependency("db", Condition::Started)
                        .with_env("OWN", own),
                );
            let _ = stack.resolve(&vars());
        }

        #[test]
        fn escaped_values_reach_dependents_unchanged(value in any::<String>()) {
            let stack = StackSpec::new()
                .with_service(ServiceSpec::new("db", "img").with_provides("URL", escape(&value)))
                .with_service(ServiceSpec::new("api", "img").with_dependency("db", Condition::Started));
            let resolved = stack
                .resolve(&Variables::new())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                resolved.service("api").and_then(|s| s.env.get("URL")),
                Some(&value)
            );
        }
    }
}
