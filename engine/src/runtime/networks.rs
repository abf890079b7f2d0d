//! User-defined bridge networks: ensure (idempotent create), inspect, list, connect, remove.
//!
//! Containers on the same user-defined network resolve each other by name and alias through
//! Docker's embedded DNS; that is how a stack's services find each other. This module must not
//! remove networks it was not asked to remove, nor change an existing network's settings.

use std::collections::BTreeMap;

use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkInspect,
};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{DockerRuntime, RuntimeError, label_filters};

/// A network the engine wants to exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetworkSpec {
    /// The network name.
    pub name: String,
    /// Labels set on creation (an existing network's labels are left as they are).
    pub labels: BTreeMap<String, String>,
    /// An internal network has no route to the outside world.
    pub internal: bool,
}

impl NetworkSpec {
    /// A bridge network with outside access and no labels.
    pub fn new(name: impl Into<String>) -> Self {
        NetworkSpec {
            name: name.into(),
            labels: BTreeMap::new(),
            internal: false,
        }
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Makes the network internal (no outside access).
    pub fn internal(mut self, internal: bool) -> Self {
        self.internal = internal;
        self
    }
}

/// A network as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetworkInfo {
    /// The network id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The driver (`bridge` for networks the engine creates).
    pub driver: String,
    /// Whether it is internal.
    pub internal: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether [`DockerRuntime::ensure_network`] created it just now.
    pub created: bool,
}

impl NetworkInfo {
    fn from_docker(n: NetworkInspect) -> Option<Self> {
        Some(NetworkInfo {
            id: n.id?,
            name: n.name?,
            driver: n.driver.unwrap_or_default(),
            internal: n.internal.unwrap_or(false),
            labels: n.labels.unwrap_or_default().into_iter().collect(),
            created: false,
        })
    }
}

impl DockerRuntime {
    /// Creates the bridge network `spec.name` unless it exists, and returns it. Idempotent;
    /// concurrent calls through clones of one runtime are serialised (Docker 20.10 would
    /// otherwise create two networks of the same name). An existing network whose `internal`
    /// setting differs is refused with [`RuntimeError::Conflict`] rather than changed.
    #[instrument(name = "runtime.ensure_network", skip_all, fields(network = %spec.name))]
    pub async fn ensure_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, RuntimeError> {
        let _serialised = self.network_lock.lock().await;
        let op = self.op("ensure network", &spec.name);
        if let Some(existing) = self.find_network(&spec.name).await? {
            if existing.internal != spec.internal {
                return Err(RuntimeError::Conflict {
                    operation: op.operation,
                    target: spec.name.clone(),
                    message: format!(
                        "the network exists with internal={}, wanted internal={}",
                        existing.internal, spec.internal
                    ),
                });
            }
            return Ok(existing);
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".to_owned()),
            internal: Some(spec.internal),
            attachable: Some(true),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| op.error(e))?;
        if !created.warning.is_empty() {
            tracing::warn!(warning = %created.warning, "docker warned while creating the network");
        }
        let mut info = self.inspect_network(&created.id).await?;
        info.created = true;
        Ok(info)
    }

    /// Inspects a network by name or id.
    #[instrument(name = "runtime.inspect_network", skip(self))]
    pub async fn inspect_network(&self, network: &str) -> Result<NetworkInfo, RuntimeError> {
        let op = self.op("inspect network", network);
        let answer = self
            .docker
            .inspect_network(network, None::<InspectNetworkOptions>)
            .await
            .map_err(|e| op.error(e))?;
        NetworkInfo::from_docker(answer).ok_or_else(|| op.protocol("network without id or name"))
    }

    /// The network named exactly `name` (Docker also resolves id prefixes; those do not count).
    async fn find_network(&self, name: &str) -> Result<Option<NetworkInfo>, RuntimeError> {
        match self.inspect_network(name).await {
            Ok(info) if info.name == name => Ok(Some(info)),
            Ok(_) => Ok(None),
            Err(RuntimeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists networks whose labels match all `labels` pairs.
    #[instrument(name = "runtime.list_networks", skip(self))]
    pub async fn list_networks(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let options = ListNetworksOptions {
            filters: Some(label_filters(labels)),
        };
        let listed = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| self.op("list networks", "by label").error(e))?;
        Ok(listed
            .into_iter()
            .filter_map(|n| {
                Some(NetworkInfo {
                    id: n.id?,
                    name: n.name?,
                    driver: n.driver.unwrap_or_default(),
                    internal: n.internal.unwrap_or(false),
                    labels: n.labels.unwrap_or_default().into_iter().collect(),
                    created: false,
                })
            })
            .collect())
    }

    /// Attaches a container to a network under the given DNS aliases.
    #[instrument(name = "runtime.connect_network", skip(self))]
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), RuntimeError> {
        let request = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(EndpointSettings {
                aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| self.op("connect network", network).error(e))
    }

    /// Detaches a container from a network (its DNS aliases there go with it).
    #[instrument(name = "runtime.disconnect_network", skip(self))]
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), RuntimeError> {
        let request = bollard::models::NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network, request)
            .await
            .map_err(|e| self.op("disconnect network", network).error(e))
    }

    /// Removes a network. Fails with [`RuntimeError::Conflict`] while containers are attached,
    /// and [`RuntimeError::NotFound`] if it does not exist.
    #[instrument(name = "runtime.remove_network", skip(self))]
    pub async fn remove_network(&self, network: &str) -> Result<(), RuntimeError> {
        self.docker.remove_network(network).await.map_err(|e| {
            match self.op("remove network", network).error(e) {
                // Docker 20.10 answers 403 for "has active endpoints"; newer daemons 409.
                RuntimeError::Docker {
                    operation,
                    target,
                    status: 403,
                    message,
                } => RuntimeError::Conflict {
                    operation,
                    target,
                    message,
                },
                other => other,
            }
        })
    }
}
