//! Named volumes: ensure (idempotent create), inspect, list by label, remove.
//!
//! Named volumes outlive containers: replacing a container keeps its data. This module must
//! never remove a volume it was not explicitly asked to remove (container removal keeps named
//! volumes too).

use std::collections::BTreeMap;

use bollard::models::{Volume, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{DockerRuntime, RuntimeError, label_filters};

/// A named volume the engine wants to exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeSpec {
    /// The volume name.
    pub name: String,
    /// Labels set on creation (an existing volume's labels are left as they are).
    pub labels: BTreeMap<String, String>,
}

impl VolumeSpec {
    /// A local volume without labels.
    pub fn new(name: impl Into<String>) -> Self {
        VolumeSpec {
            name: name.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// A volume as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeInfo {
    /// The name.
    pub name: String,
    /// The driver (`local`).
    pub driver: String,
    /// Where the data lives on the Docker host.
    pub mountpoint: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether [`DockerRuntime::ensure_volume`] created it just now.
    pub created: bool,
}

impl From<Volume> for VolumeInfo {
    fn from(v: Volume) -> Self {
        VolumeInfo {
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            labels: v.labels.into_iter().collect(),
            created: false,
        }
    }
}

impl DockerRuntime {
    /// Creates the local volume `spec.name` unless it exists, and returns it. Idempotent.
    #[instrument(name = "runtime.ensure_volume", skip_all, fields(volume = %spec.name))]
    pub async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo, RuntimeError> {
        match self.inspect_volume(&spec.name).await {
            Ok(existing) => return Ok(existing),
            Err(RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let request = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            driver: Some("local".to_owned()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        // Docker's create is itself idempotent for the local driver, so a race with another
        // creator returns the same volume.
        let volume = self
            .docker
            .create_volume(request)
            .await
            .map_err(|e| self.op("create volume", &spec.name).error(e))?;
        Ok(VolumeInfo {
            created: true,
            ..VolumeInfo::from(volume)
        })
    }

    /// Inspects a volume by name.
    #[instrument(name = "runtime.inspect_volume", skip(self))]
    pub async fn inspect_volume(&self, volume: &str) -> Result<VolumeInfo, RuntimeError> {
        let answer = self
            .docker
            .inspect_volume(volume)
            .await
            .map_err(|e| self.op("inspect volume", volume).error(e))?;
        Ok(answer.into())
    }

    /// Lists volumes whose labels match all `labels` pairs.
    #[instrument(name = "runtime.list_volumes", skip(self))]
    pub async fn list_volumes(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<VolumeInfo>, RuntimeError> {
        let options = ListVolumesOptions {
            filters: Some(label_filters(labels)),
        };
        let listed = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| self.op("list volumes", "by label").error(e))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(VolumeInfo::from)
            .collect())
    }

    /// Removes a volume and its data. Fails with [`RuntimeError::Conflict`] while a container
    /// uses it, and [`RuntimeError::NotFound`] if it does not exist.
    #[instrument(name = "runtime.remove_volume", skip(self))]
    pub async fn remove_volume(&self, volume: &str, force: bool) -> Result<(), RuntimeError> {
        self.docker
            .remove_volume(volume, Some(RemoveVolumeOptions { force }))
            .await
            .map_err(|e| self.op("remove volume", volume).error(e))
    }
}
