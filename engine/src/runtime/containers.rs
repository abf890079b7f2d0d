//! Container lifecycle operations: create, start, stop, kill, restart, remove, inspect, list.
//!
//! Each operation is one Docker call with its errors classified; none retries, waits for a
//! state or decides what to do next (that is `lifecycle`'s job). Every operation carries a
//! `runtime.<operation>` span.

use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, ListContainersOptions,
    RemoveContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use tracing::instrument;

use super::{
    ContainerInfo, ContainerSpec, ContainerSummary, DockerRuntime, RuntimeError, label_filters,
};

/// Docker's stop/restart timeout is whole seconds: round up so a caller never gets less grace
/// than asked for.
fn whole_seconds(timeout: Duration) -> i32 {
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0));
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// What a container is created with beyond its [`ContainerSpec`].
#[derive(Debug, Default)]
pub(crate) struct CreateExtras {
    /// Environment entries (`KEY=value`), e.g. injected secrets.
    pub env: Vec<String>,
    /// Mounts, e.g. injected secret files.
    pub mounts: Vec<bollard::models::Mount>,
    /// The working directory, replacing the image's (Docker creates it).
    pub working_dir: Option<String>,
}

impl DockerRuntime {
    /// Creates (does not start) a container from `spec` and returns its id.
    ///
    /// Fails with [`RuntimeError::ImageMissing`] if the image is not on the host (nothing is
    /// pulled), [`RuntimeError::Conflict`] if the name is taken, and
    /// [`RuntimeError::InvalidSpec`] before calling Docker if the spec is inconsistent.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.create_container_with(spec, CreateExtras::default())
            .await
    }

    /// [`create_container`](Self::create_container) with what is not part of the spec:
    /// injected secrets' environment entries and mounts, a working directory.
    #[instrument(name = "runtime.create_container", skip_all, fields(container = %spec.name, image = %spec.image))]
    pub(crate) async fn create_container_with(
        &self,
        spec: &ContainerSpec,
        extras: CreateExtras,
    ) -> Result<String, RuntimeError> {
        let CreateExtras {
            env: extra_env,
            mounts: extra_mounts,
            working_dir,
        } = extras;
        let mut body = spec.to_create_body()?;
        if working_dir.is_some() {
            body.working_dir = working_dir;
        }
        if !extra_env.is_empty() {
            body.env.get_or_insert_with(Vec::new).extend(extra_env);
        }
        if !extra_mounts.is_empty()
            && let Some(host) = body.host_config.as_mut()
        {
            host.mounts
                .get_or_insert_with(Vec::new)
                .extend(extra_mounts);
        }
        let op = self.op("create container", &spec.name);
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| match op.error(e) {
                RuntimeError::NotFound { message, .. } if message.starts_with("No such image") => {
                    RuntimeError::ImageMissing {
                        image: spec.image.clone(),
                    }
                }
                other => other,
            })?;
        for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
            tracing::warn!(warning = %warning, "docker warned while creating the container");
        }
        Ok(created.id)
    }

    /// Starts a created or stopped container; starting a running one is a no-op.
    #[instrument(name = "runtime.start_container", skip(self))]
    pub async fn start_container(&self, container: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(container, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.op("start container", container).error(e))
    }

    /// Stops a container gracefully: its stop signal (SIGTERM unless the image says otherwise),
    /// then SIGKILL once `timeout` (rounded up to whole seconds) has passed. Returns when the
    /// container has stopped; stopping a stopped container is a no-op.
    #[instrument(name = "runtime.stop_container", skip(self))]
    pub async fn stop_container(
        &self,
        container: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let (docker, deadline) = self.waiting_client(timeout);
        let options = StopContainerOptions {
            t: Some(whole_seconds(timeout)),
            signal: None,
        };
        docker
            .stop_container(container, Some(options))
            .await
            .map_err(|e| {
                let mut op = self.op("stop container", container);
                op.timeout = deadline;
                op.error(e)
            })
    }

    /// Sends `signal` (default `SIGKILL`) to the container's main process. Fails with
    /// [`RuntimeError::Conflict`] if it is not running.
    #[instrument(name = "runtime.kill_container", skip(self))]
    pub async fn kill_container(
        &self,
        container: &str,
        signal: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let options = KillContainerOptions {
            signal: signal.unwrap_or("SIGKILL").to_owned(),
        };
        self.docker
            .kill_container(container, Some(options))
            .await
            .map_err(|e| self.op("kill container", container).error(e))
    }

    /// Stops (as [`stop_container`](Self::stop_container) with `timeout`) and starts again.
    #[instrument(name = "runtime.restart_container", skip(self))]
    pub async fn restart_container(
        &self,
        container: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let (docker, deadline) = self.waiting_client(timeout);
        let options = RestartContainerOptions {
            t: Some(whole_seconds(timeout)),
            signal: None,
        };
        docker
            .restart_container(container, Some(options))
            .await
            .map_err(|e| {
                let mut op = self.op("restart container", container);
                op.timeout = deadline;
                op.error(e)
            })
    }

    /// Removes a container and its anonymous volumes (named volumes are kept). Without
    /// `force` a running container is refused with [`RuntimeError::Conflict`]; with it, it is
    /// killed first.
    #[instrument(name = "runtime.remove_container", skip(self))]
    pub async fn remove_container(&self, container: &str, force: bool) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions {
            v: true,
            force,
            link: false,
        };
        self.docker
            .remove_container(container, Some(options))
            .await
            .map_err(|e| self.op("remove container", container).error(e))
    }

    /// Renames a container (running or not).
    #[instrument(name = "runtime.rename_container", skip(self))]
    pub async fn rename_container(&self, container: &str, name: &str) -> Result<(), RuntimeError> {
        let options = bollard::query_parameters::RenameContainerOptions {
            name: name.to_owned(),
        };
        self.docker
            .rename_container(container, options)
            .await
            .map_err(|e| self.op("rename container", container).error(e))
    }

    /// Inspects a container by id or name.
    #[instrument(name = "runtime.inspect_container", skip(self))]
    pub async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, RuntimeError> {
        let op = self.op("inspect container", container);
        let answer = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|e| op.error(e))?;
        ContainerInfo::from_inspect(op, answer)
    }

    /// Lists containers in every state whose labels match all `labels` pairs
    /// (e.g. `[(LABEL_ENGINE, "dev-1")]`).
    #[instrument(name = "runtime.list_containers", skip(self))]
    pub async fn list_containers(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filters(labels)),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.op("list containers", "by label").error(e))?;
        Ok(listed
            .into_iter()
            .filter_map(ContainerSummary::from_docker)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
        assert_eq!(whole_seconds(Duration::from_millis(10_001)), 11);
        assert_eq!(whole_seconds(Duration::MAX), i32::MAX);
    }
}
