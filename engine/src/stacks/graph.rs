//! The dependency graph of a stack: the order to start (and stop) its services in, and what
//! each service waits for.
//!
//! This module owns the structural checks (unique names, dependencies that exist, no
//! self-dependency, no cycle) and the derived order. It decides nothing about when a condition
//! is met — that takes a runtime — and acts on nothing.
//!
//! The start order is a list of *waves*: a service's wave is one more than the latest wave of
//! its dependencies, so services of one wave depend only on earlier waves and can start in
//! parallel. Waves are a plan for people and a coarse schedule; a deployer that wants the
//! shortest start gates each service on its own dependencies ([`DependencyGraph::unmet`])
//! instead of waiting for a whole wave. Stopping goes the other way
//! ([`DependencyGraph::stop_waves`]): dependents before what they depend on.

use std::collections::{BTreeMap, BTreeSet};

use super::{Dependency, StackError, StackErrors, StackSpec};

/// The dependencies of a valid stack, in both directions, and its start order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    /// Per service, what it waits for, sorted by dependency name.
    waits_for: BTreeMap<String, Vec<Dependency>>,
    /// Per service, who waits for it (the dependent's name) and for which condition, sorted.
    dependents: BTreeMap<String, Vec<Dependency>>,
    /// The start order; names sorted within a wave.
    waves: Vec<Vec<String>>,
}

impl DependencyGraph {
    /// The graph of `stack`, or every structural error: duplicate names, a dependency on an
    /// unknown service or on the service itself, a dependency listed twice, a cycle (the error
    /// names it). Other problems of the stack are [`StackSpec::validate`]'s.
    pub fn new(stack: &StackSpec) -> Result<Self, StackErrors> {
        StackErrors::check(check(stack))?;
        let mut waits_for: BTreeMap<String, Vec<Dependency>> = BTreeMap::new();
        let mut dependents: BTreeMap<String, Vec<Dependency>> = BTreeMap::new();
        for service in &stack.services {
            dependents.entry(service.name.clone()).or_default();
            let mut deps = service.depends_on.clone();
            deps.sort();
            for dep in &deps {
                dependents
                    .entry(dep.service.clone())
                    .or_default()
                    .push(Dependency::new(&service.name, dep.condition));
            }
            waits_for.insert(service.name.clone(), deps);
        }
        for list in dependents.values_mut() {
            list.sort();
        }
        let waves = waves(&waits_for, &dependents);
        Ok(Self {
            waits_for,
            dependents,
            waves,
        })
    }

    /// The start order: every service of wave `n` depends only on services of waves before
    /// `n`. Names are sorted within a wave.
    pub fn waves(&self) -> &[Vec<String>] {
        &self.waves
    }

    /// The stop order: the waves from last to first, so dependents stop before what they
    /// depend on.
    pub fn stop_waves(&self) -> impl Iterator<Item = &[String]> {
        self.waves.iter().rev().map(Vec::as_slice)
    }

    /// The wave `service` starts in, or `None` for a service the stack does not have.
    pub fn wave_of(&self, service: &str) -> Option<usize> {
        self.waves
            .iter()
            .position(|wave| wave.iter().any(|s| s == service))
    }

    /// The services, sorted by name.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.waits_for.keys().map(String::as_str)
    }

    /// What `service` waits for, with which condition, sorted by name. Empty for a service
    /// without dependencies and for one the stack does not have.
    pub fn waits_for(&self, service: &str) -> &[Dependency] {
        self.waits_for.get(service).map_or(&[], Vec::as_slice)
    }

    /// Who waits for `service`: each [`Dependency`] names the *dependent* and the condition
    /// it waits for `service` to reach. Sorted by name; empty when nothing depends on it.
    pub fn dependents(&self, service: &str) -> &[Dependency] {
        self.dependents.get(service).map_or(&[], Vec::as_slice)
    }

    /// The dependencies of `service` that `met` says are not satisfied yet: the service may
    /// start when this is empty.
    pub fn unmet(&self, service: &str, met: impl Fn(&Dependency) -> bool) -> Vec<&Dependency> {
        self.waits_for(service).iter().filter(|d| !met(d)).collect()
    }
}

/// Layers services by the longest path to a service without dependencies (Kahn's algorithm,
/// one round per wave). Needs a graph without cycles and unknown names ([`check`] found none).
fn waves(
    waits_for: &BTreeMap<String, Vec<Dependency>>,
    dependents: &BTreeMap<String, Vec<Dependency>>,
) -> Vec<Vec<String>> {
    // Per service, the dependencies not yet placed in a wave.
    let mut unplaced: BTreeMap<&str, usize> = waits_for
        .iter()
        .map(|(name, deps)| (name.as_str(), deps.len()))
        .collect();
    let mut wave: Vec<&str> = unplaced
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut waves = Vec::new();
    while !wave.is_empty() {
        let mut next = Vec::new();
        for name in &wave {
            for dependent in dependents.get(*name).into_iter().flatten() {
                if let Some(n) = unplaced.get_mut(dependent.service.as_str()) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        next.push(dependent.service.as_str());
                    }
                }
            }
        }
        next.sort_unstable();
        waves.push(wave.iter().map(|s| (*s).to_owned()).collect());
        wave = next;
    }
    waves
}

/// Every structural error of `stack`, in service order, cycles last.
pub(crate) fn check(stack: &StackSpec) -> Vec<StackError> {
    let mut errors = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, service) in stack.services.iter().enumerate() {
        if let Some(&first) = index.get(service.name.as_str()) {
            errors.push(StackError::DuplicateService {
                field: format!("services[{i}].name"),
                name: service.name.clone(),
                first,
            });
        } else {
            index.insert(&service.name, i);
        }
    }
    let known: Vec<String> = index.keys().map(|s| (*s).to_owned()).collect();

    // Edges of the first service of each name to known services other than itself.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, service) in stack.services.iter().enumerate() {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (j, dep) in service.depends_on.iter().enumerate() {
            let field = format!("services[{i}].depends_on[{j}].service");
            if dep.service == service.name {
                errors.push(StackError::SelfDependency {
                    field,
                    service: service.name.clone(),
                });
            } else if !index.contains_key(dep.service.as_str()) {
                errors.push(StackError::UnknownDependency {
                    field,
                    service: service.name.clone(),
                    dependency: dep.service.clone(),
                    known: known.clone(),
                });
            } else if !seen.insert(&dep.service) {
                errors.push(StackError::DuplicateDependency {
                    field,
                    service: service.name.clone(),
                    dependency: dep.service.clone(),
                });
            } else if index.get(service.name.as_str()) == Some(&i) {
                edges.entry(&service.name).or_default().insert(&dep.service);
            }
        }
        if index.get(service.name.as_str()) == Some(&i) {
            edges.entry(&service.name).or_default();
        }
    }

    for cycle in cycles(&edges) {
        // Self-loops are not edges, so a cycle has at least two services.
        let [first, second, ..] = cycle[..] else {
            continue;
        };
        let i = index.get(first).copied().unwrap_or_default();
        let j = stack.services[i]
            .depends_on
            .iter()
            .position(|d| d.service == second)
            .unwrap_or_default();
        errors.push(StackError::Cycle {
            field: format!("services[{i}].depends_on[{j}].service"),
            cycle: cycle.iter().map(|s| (*s).to_owned()).collect(),
        });
    }
    errors
}

/// Disjoint cycles of `edges` (a service to what it depends on), each starting at its smallest
/// name; deterministic, iterative (a long chain cannot overflow the stack) and near-linear.
///
/// Prunes the services whose dependencies are all pruned (they cannot be on a cycle). Every
/// service left has a dependency left, so walking the smallest remaining dependency from the
/// smallest remaining service must revisit a service: that loop is a cycle. Its services are
/// pruned too and the pruning goes on, until nothing is left.
fn cycles<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut reverse: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    // Per service, its dependencies not pruned yet.
    let mut unpruned: BTreeMap<&str, usize> = BTreeMap::new();
    for (&service, deps) in edges {
        unpruned.insert(service, deps.len());
        for &dep in deps {
            reverse.entry(dep).or_default().push(service);
        }
    }
    let mut left: BTreeSet<&str> = edges.keys().copied().collect();
    let mut prune: Vec<&str> = unpruned
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();
    let mut found = Vec::new();
    loop {
        while let Some(service) = prune.pop() {
            if !left.remove(service) {
                continue;
            }
            for &dependent in reverse.get(service).into_iter().flatten() {
                if let Some(n) = unpruned.get_mut(dependent) {
                    *n = n.saturating_sub(1);
                    if *n == 0 && left.contains(dependent) {
                        prune.push(dependent);
                    }
                }
            }
        }
        let Some(&start) = left.first() else {
            return found;
        };
        let mut path: Vec<&str> = vec![start];
        let mut on_path: BTreeMap<&str, usize> = BTreeMap::from([(start, 0)]);
        let mut at = start;
        let cycle = loop {
            let Some(next) = edges
                .get(at)
                .and_then(|deps| deps.iter().copied().find(|d| left.contains(d)))
            else {
                break None; // unreachable: every service left has a dependency left
            };
            if let Some(&pos) = on_path.get(next) {
                break Some(path.split_off(pos));
            }
            on_path.insert(next, path.len());
            path.push(next);
            at = next;
        };
        let Some(mut cycle) = cycle else {
            return found;
        };
        prune.extend(cycle.iter().copied());
        // Start the cycle at its smallest name.
        if let Some(min) = (0..cycle.len()).min_by_key(|&k| cycle[k]) {
            cycle.rotate_left(min);
        }
        found.push(cycle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceSpec;
    use crate::stacks::Condition;
    use proptest::prelude::*;

    fn svc(name: &str, deps: &[&str]) -> ServiceSpec {
        deps.iter().fold(ServiceSpec::new(name, "img"), |s, d| {
            s.with_dependency(*d, Condition::Started)
        })
    }

    fn stack(services: &[(&str, &[&str])]) -> StackSpec {
        services
            .iter()
            .fold(StackSpec::new(), |st, (n, d)| st.with_service(svc(n, d)))
    }

    fn messages(stack: &StackSpec) -> Vec<String> {
        check(stack).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn waves_group_independent_services_sorted_by_name() {
        let s = stack(&[
            ("web", &["api"]),
            ("api", &["db", "cache"]),
            ("worker", &["db"]),
            ("db", &[]),
            ("cache", &[]),
            ("docs", &[]),
        ]);
        let graph = DependencyGraph::new(&s).unwrap();
        assert_eq!(
            graph.waves(),
            [
                vec!["cache", "db", "docs"],
                vec!["api", "worker"],
                vec!["web"]
            ]
        );
        let stop: Vec<&[String]> = graph.stop_waves().collect();
        assert_eq!(stop[0], ["web"]);
        assert_eq!(stop[2], ["cache", "db", "docs"]);
        assert_eq!(graph.wave_of("worker"), Some(1));
        assert_eq!(graph.wave_of("nope"), None);
        let names: Vec<&str> = graph.services().collect();
        assert_eq!(names, ["api", "cache", "db", "docs", "web", "worker"]);
    }

    #[test]
    fn a_service_waits_for_its_longest_chain() {
        // c depends on a directly and through b: it starts after b, not with b.
        let graph =
            DependencyGraph::new(&stack(&[("c", &["a", "b"]), ("b", &["a"]), ("a", &[])])).unwrap();
        assert_eq!(graph.waves(), [vec!["a"], vec!["b"], vec!["c"]]);
    }

    #[test]
    fn both_directions_carry_the_condition() {
        let s = StackSpec::new()
            .with_service(
                ServiceSpec::new("api", "img")
                    .with_dependency("migrate", Condition::Completed)
                    .with_dependency("db", Condition::Healthy),
            )
            .with_service(ServiceSpec::new("db", "img"))
            .with_service(
                ServiceSpec::new("migrate", "img").with_dependency("db", Condition::Started),
            );
        let graph = DependencyGraph::new(&s).unwrap();
        assert_eq!(
            graph.waits_for("api"),
            [
                Dependency::new("db", Condition::Healthy),
                Dependency::new("migrate", Condition::Completed)
            ]
        );
        assert_eq!(
            graph.dependents("db"),
            [
                Dependency::new("api", Condition::Healthy),
                Dependency::new("migrate", Condition::Started)
            ]
        );
        assert!(graph.dependents("api").is_empty());
        assert!(graph.waits_for("db").is_empty());
        assert!(graph.waits_for("unknown").is_empty());
        let unmet = graph.unmet("api", |d| d.service == "db");
        assert_eq!(unmet, [&Dependency::new("migrate", Condition::Completed)]);
        assert!(graph.unmet("api", |_| true).is_empty());
    }

    #[test]
    fn an_empty_stack_has_no_waves() {
        let graph = DependencyGraph::new(&StackSpec::new()).unwrap();
        assert!(graph.waves().is_empty());
    }

    #[test]
    fn a_cycle_is_named_from_its_smallest_service() {
        let s = stack(&[("web", &[]), ("worker", &["api"]), ("api", &["worker"])]);
        assert_eq!(
            messages(&s),
            ["services[2].depends_on[0].service: dependency cycle: api -> worker -> api"]
        );
        let error = DependencyGraph::new(&s).unwrap_err();
        assert!(
            matches!(&error.errors()[0], StackError::Cycle { cycle, .. } if cycle == &["api", "worker"])
        );
    }

    #[test]
    fn longer_and_separate_cycles_are_each_reported_once() {
        let s = stack(&[
            ("c", &["a"]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("y", &["x"]),
            ("x", &["y"]),
            ("z", &["a"]), // depends on a cycle but is not on one
            ("ok", &[]),
        ]);
        assert_eq!(
            messages(&s),
            [
                "services[1].depends_on[0].service: dependency cycle: a -> b -> c -> a",
                "services[4].depends_on[0].service: dependency cycle: x -> y -> x",
            ]
        );
    }

    #[test]
    fn a_cycle_through_a_shared_service_is_found() {
        // Two cycles share `hub`: the first one is reported; the second shows once it is fixed.
        let s = stack(&[("hub", &["p", "q"]), ("p", &["hub"]), ("q", &["hub"])]);
        assert_eq!(
            messages(&s),
            ["services[0].depends_on[0].service: dependency cycle: hub -> p -> hub"]
        );
    }

    #[test]
    fn structural_errors_name_the_field() {
        let s = stack(&[
            ("web", &["db", "web"]),
            ("api", &["cache", "api2", "cache"]),
            ("cache", &[]),
            ("web", &[]),
        ]);
        assert_eq!(
            messages(&s),
            [
                "services[3].name: duplicate service name \"web\" (first declared at services[0])",
                "services[0].depends_on[0].service: unknown service \"db\" (services: api, cache, web)",
                "services[0].depends_on[1].service: service \"web\" cannot depend on itself",
                "services[1].depends_on[1].service: unknown service \"api2\" (services: api, cache, web)",
                "services[1].depends_on[2].service: \"api\" already depends on \"cache\"; list each dependency once",
            ]
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let names: Vec<String> = (0..5_000).map(|i| format!("s{i}")).collect();
        let mut s = StackSpec::new();
        for (i, name) in names.iter().enumerate() {
            let spec = ServiceSpec::new(name, "img");
            s = s.with_service(match i.checked_sub(1) {
                Some(prev) => spec.with_dependency(&names[prev], Condition::Started),
                None => spec,
            });
        }
        let graph = DependencyGraph::new(&s).unwrap();
        assert_eq!(graph.waves().len(), 5_000);
        // Close the ring: one cycle of 5000 services.
        s.services[0]
            .depends_on
            .push(Dependency::new("s4999", Condition::Started));
        let errors = check(&s);
        assert!(matches!(&errors[..], [StackError::Cycle { cycle, .. }] if cycle.len() == 5_000));
    }

    /// Random stacks: `n` services, each depending on a random subset of the others.
    fn random_stack() -> impl Strategy<Value = StackSpec> {
        (1usize..12).prop_flat_map(|n| {
            proptest::collection::vec(proptest::collection::btree_set(0..n, 0..4), n).prop_map(
                move |deps| {
                    let mut s = StackSpec::new();
                    for (i, d) in deps.iter().enumerate() {
                        let mut spec = ServiceSpec::new(format!("s{i}"), "img");
                        for j in d.iter().filter(|j| **j != i) {
                            spec = spec.with_dependency(format!("s{j}"), Condition::Started);
                        }
                        s = s.with_service(spec);
                    }
                    s
                },
            )
        })
    }

    proptest! {
        #[test]
        fn waves_respect_every_dependency(s in random_stack()) {
            match DependencyGraph::new(&s) {
                Ok(graph) => {
                    let placed: usize = graph.waves().iter().map(Vec::len).sum();
                    prop_assert_eq!(placed, s.services.len());
                    for service in &s.services {
                        let wave = graph.wave_of(&service.name);
                        for dep in &service.depends_on {
                            prop_assert!(graph.wave_of(&dep.service) < wave);
                        }
                    }
                    for wave in graph.waves() {
                        prop_assert!(wave.windows(2).all(|w| w[0] < w[1]));
                    }
                }
                Err(errors) => {
                    // The only possible errors here are cycles, and each named cycle is real.
                    for error in &errors {
                        let StackError::Cycle { cycle, .. } = error else {
                            return Err(TestCaseError::fail(error.to_string()));
                        };
                        for (k, name) in cycle.iter().enumerate() {
                            let next = &cycle[(k + 1) % cycle.len()];
                            let spec = s.service(name).ok_or_else(|| TestCaseError::fail("no service"))?;
                            prop_assert!(spec.depends_on.iter().any(|d| &d.service == next));
                        }
                    }
                }
            }
        }
    }
}
