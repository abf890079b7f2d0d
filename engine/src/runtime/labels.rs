//! The `dev.windlass.*` labels that mark what the engine owns, and the config hash that
//! detects drift.
//!
//! Owns the label keys (their spelling is a compatibility promise: containers created by one
//! engine version are adopted by the next) and the canonical serialisation behind
//! [`config_hash`]. It must not talk to Docker.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::spec::{ContainerSpec, PortSpec, VolumeMount};

/// The prefix of every label the engine sets.
pub const LABEL_PREFIX: &str = "dev.windlass.";
/// `"true"` on everything the engine created.
pub const LABEL_MANAGED: &str = "dev.windlass.managed";
/// The id of the engine that owns the object; an engine never touches other engines' objects.
pub const LABEL_ENGINE: &str = "dev.windlass.engine";
/// The organisation the stack belongs to.
pub const LABEL_ORG: &str = "dev.windlass.org";
/// The stack name.
pub const LABEL_STACK: &str = "dev.windlass.stack";
/// The service name within the stack.
pub const LABEL_SERVICE: &str = "dev.windlass.service";
/// The desired-state revision that created the container.
pub const LABEL_REVISION: &str = "dev.windlass.revision";
/// [`config_hash`] of the container's spec.
pub const LABEL_CONFIG_HASH: &str = "dev.windlass.config-hash";
/// The replica index of the container within its service.
pub const LABEL_SLOT: &str = "dev.windlass.slot";
/// Docker's own label on the container of a swarm task. Such a container belongs to the swarm
/// (an adapter target), never to the local runtime, even when the local engine is a node of
/// that swarm (the embedded development swarm): the runtime leaves it out of every listing and
/// event stream, so the local reconciler never adopts, replaces or removes it.
pub const LABEL_SWARM_TASK: &str = "com.docker.swarm.task.id";
/// The directory (under the secrets runtime dir) holding a container's secret files. Not the
/// container's name: a surge is renamed to its slot's name when it replaces the old replica.
pub const LABEL_SECRETS_DIR: &str = "dev.windlass.secrets-dir";

/// The ownership labels of one engine-managed container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagedLabels {
    /// The engine id (`[engine] id` in the runner config).
    pub engine: String,
    /// The organisation.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// The desired-state revision.
    pub revision: u64,
    /// The replica index.
    pub slot: u32,
}

impl ManagedLabels {
    /// The labels as a map, including `managed=true` but not the config hash.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_ENGINE.to_owned(), self.engine.clone()),
            (LABEL_ORG.to_owned(), self.org.clone()),
            (LABEL_STACK.to_owned(), self.stack.clone()),
            (LABEL_SERVICE.to_owned(), self.service.clone()),
            (LABEL_REVISION.to_owned(), self.revision.to_string()),
            (LABEL_SLOT.to_owned(), self.slot.to_string()),
        ])
    }

    /// Sets these labels on `spec`, then its `config-hash` label to [`config_hash`] of it.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        spec.labels.extend(self.to_map());
        let hash = config_hash(spec);
        spec.labels.insert(LABEL_CONFIG_HASH.to_owned(), hash);
    }
}

/// The canonical form hashed by [`config_hash`]. Bump `v` when the meaning changes: every
/// running container then counts as drifted once, which is the safe direction.
#[derive(Serialize)]
struct HashInput<'a> {
    v: u32,
    image: &'a str,
    command: Option<&'a [String]>,
    env: Vec<(&'a str, &'a str)>,
    labels: BTreeMap<&'a str, &'a str>,
    ports: Vec<&'a PortSpec>,
    network: Option<&'a str>,
    network_aliases: Vec<&'a str>,
    volumes: Vec<&'a VolumeMount>,
    cpu_millis: Option<u32>,
    memory_bytes: Option<u64>,
    hardening: &'a super::Hardening,
    /// Left out when empty so the hash of every container without secrets is unchanged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<&'a crate::runtime::SecretMount>,
}

/// A hex sha256 over everything that defines the container: image, command, env (sorted),
/// ports, network and aliases, mounts, limits, hardening, and the labels outside
/// `dev.windlass.*`.
///
/// Excluded on purpose: the name and every `dev.windlass.*` label (revision, slot, the hash
/// itself…), so a new revision with the same configuration, or another replica, has the same
/// hash and is not replaced. Order-insensitive where Docker is (env, ports, mounts, aliases).
pub fn config_hash(spec: &ContainerSpec) -> String {
    let mut env: Vec<_> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.sort_unstable();
    let mut ports: Vec<_> = spec.ports.iter().collect();
    ports.sort_unstable();
    let mut volumes: Vec<_> = spec.volumes.iter().collect();
    volumes.sort_unstable();
    let mut network_aliases: Vec<_> = spec.network_aliases.iter().map(String::as_str).collect();
    network_aliases.sort_unstable();
    let input = HashInput {
        // 2: the hardening settings joined the hash.
        v: 2,
        image: &spec.image,
        command: spec.command.as_deref(),
        env,
        labels: spec
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with(LABEL_PREFIX))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        ports,
        network: spec.network.as_deref(),
        network_aliases,
        volumes,
        cpu_millis: spec.cpu.map(|c| c.millis()),
        memory_bytes: spec.memory.map(|m| m.bytes()),
        hardening: &spec.hardening,
        secrets: {
            let mut secrets: Vec<_> = spec.secrets.iter().collect();
            secrets.sort_unstable();
            secrets
        },
    };
    // Serialising plain structs, strings and integers cannot fail; the fallback keeps the
    // function total without a panic path.
    let bytes = serde_json::to_vec(&input).unwrap_or_else(|e| format!("{e}").into_bytes());
    hex::encode(Sha256::digest(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::MemoryBytes;
    use crate::runtime::PortSpec;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("web-1", "img:1")
            .with_env("A", "1")
            .with_env("B", "2")
            .with_port(PortSpec::tcp(80))
            .with_port(PortSpec::tcp(81))
    }

    fn labels(revision: u64, slot: u32) -> ManagedLabels {
        ManagedLabels {
            engine: "dev-1".into(),
            org: "acme".into(),
            stack: "shop".into(),
            service: "web".into(),
            revision,
            slot,
        }
    }

    #[test]
    fn hash_is_stable_and_hex() {
        let h = config_hash(&spec());
        assert_eq!(h.len(), 64);
        assert_eq!(h, config_hash(&spec()));
        // Pinned: a change here re-creates every running container on upgrade; bump
        // `HashInput::v` on purpose if it must change.
        assert_eq!(
            h,
            "e6d8b17ab7529065aefb38b170b04f9d3d448f44eca52402ff8c9c18b42da743"
        );
    }

    #[test]
    fn hash_ignores_revision_slot_name_and_order() {
        let base = config_hash(&spec());
        let mut a = spec();
        labels(1, 0).apply(&mut a);
        let mut b = ContainerSpec::new("web-2", "img:1")
            .with_env("B", "2")
            .with_env("A", "1")
            .with_port(PortSpec::tcp(81))
            .with_port(PortSpec::tcp(80));
        labels(7, 3).apply(&mut b);
        assert_eq!(a.labels.get(LABEL_CONFIG_HASH), Some(&base));
        assert_eq!(b.labels.get(LABEL_CONFIG_HASH), Some(&base));
        assert_eq!(
            config_hash(&a),
            base,
            "the hash label does not feed back into the hash"
        );
        assert_eq!(a.labels.get(LABEL_REVISION).map(String::as_str), Some("1"));
        assert_eq!(
            a.labels.get(LABEL_MANAGED).map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn hash_changes_with_what_defines_the_container() {
        let base = config_hash(&spec());
        let changed = [
            ContainerSpec {
                image: "img:2".into(),
                ..spec()
            },
            spec().with_env("C", "3"),
            ContainerSpec {
                env: vec![("A".into(), "9".into()), ("B".into(), "2".into())],
                ..spec()
            },
            spec().with_command(["sh"]),
            spec().with_port(PortSpec::tcp(82)),
            spec().with_label("team", "red"),
            spec().with_network("n", ["a"]),
            spec().with_volume("v", "/v", false),
            spec().with_memory(MemoryBytes::MAX),
            ContainerSpec {
                hardening: super::super::Hardening::none(),
                ..spec()
            },
        ];
        for s in changed {
            assert_ne!(config_hash(&s), base, "{s:?}");
        }
    }
}
