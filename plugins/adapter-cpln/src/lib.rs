//! `adapter-cpln`: reads Control Plane (cpln) workloads' containers. Control Plane has no
//! container endpoints: a container's state lives in its workload's deployments (one per
//! location), under `status.versions[].containers` and, for cron workloads,
//! `status.jobExecutions[].containers`. The engine's inventory lists a GVC's workloads with
//! `list-groups` (following `next` links) and asks `list-group-containers` per workload, with
//! its own concurrency, cache and retries.
//!
//! Config: `org` and `token` (required; the token should be a secret reference), `gvc` (the
//! GVC listed when the engine names none), `api_url` (default `https://api.cpln.io`; grant its
//! host in `grants.outbound_hosts`).
//!
//! Read-only toward Control Plane: it creates and changes nothing there, says so in
//! `describe` (`read-only`), and refuses deploy, scale, remove and rollback with that reason.
//! Statuses are mapped in [`api::status_error`].

mod api;
mod convert;
mod model;

use windlass_plugin_sdk::types::{
    AdapterError, AdapterInfo, Capabilities, ContainerFilter, ContainerInfo, DeployRequest,
    DeploymentRef, DeploymentStatus, Group, GroupPage,
};

/// Why every write is refused.
pub const READ_ONLY: &str = "adapter-cpln is read-only: it reads Control Plane workloads and creates or changes nothing there";

/// The adapter.
struct Cpln;

fn read_only<T>() -> Result<T, AdapterError> {
    Err(AdapterError::Denied(READ_ONLY.to_owned()))
}

fn groups(
    api: &api::Api,
    scope: Option<&str>,
    cursor: Option<&str>,
) -> Result<GroupPage, AdapterError> {
    let gvc = api.gvc(scope)?;
    let page = api.workloads(gvc, cursor)?;
    let next_cursor = page.next().map(str::to_owned);
    let groups = page
        .items
        .into_iter()
        .map(|w| Group {
            id: w.id.unwrap_or_else(|| w.name.clone()),
            scope: gvc.to_owned(),
            kind: w.spec.kind.unwrap_or_else(|| "standard".to_owned()),
            suspended: w.spec.default_options.is_some_and(|o| o.suspend),
            name: w.name,
        })
        .collect();
    Ok(GroupPage {
        groups,
        next_cursor,
    })
}

fn group_containers(api: &api::Api, group: &Group) -> Result<Vec<ContainerInfo>, AdapterError> {
    let gvc = api.gvc(Some(group.scope.as_str()).filter(|s| !s.is_empty()))?;
    let deployments = api.deployments(gvc, &group.name)?;
    let origin = convert::Origin {
        org: &api.org,
        gvc,
        workload: &group.name,
        suspended: group.suspended,
    };
    Ok(convert::containers(&origin, &deployments.items))
}

impl windlass_plugin_sdk::CloudAdapter for Cpln {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "cpln".into(),
            platform: "control-plane".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities {
                read_only: true,
                inventory: true,
                ..Capabilities::NONE
            },
        }
    }

    fn deploy(_request: DeployRequest) -> Result<DeploymentRef, AdapterError> {
        read_only()
    }

    fn status(_deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError> {
        Err(AdapterError::Unsupported(format!("status: {READ_ONLY}")))
    }

    fn scale(_deployment: DeploymentRef, _replicas: u32) -> Result<(), AdapterError> {
        read_only()
    }

    fn remove(_deployment: DeploymentRef) -> Result<(), AdapterError> {
        read_only()
    }

    fn rollback(_deployment: DeploymentRef) -> Result<(), AdapterError> {
        read_only()
    }

    /// Every container of the default GVC's workloads, one workload after another (the engine's
    /// inventory uses `list-groups` and `list-group-containers` instead, in parallel).
    fn list_containers(filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError> {
        let api = api::Api::from_config()?;
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = groups(&api, None, cursor.as_deref())?;
            for group in &page.groups {
                out.extend(group_containers(&api, group)?);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out.retain(|c| {
            filter
                .name_prefix
                .as_deref()
                .is_none_or(|p| c.name.starts_with(p))
                && filter.labels.iter().all(|l| c.labels.contains(l))
        });
        Ok(out)
    }

    fn list_groups(
        scope: Option<String>,
        cursor: Option<String>,
    ) -> Result<GroupPage, AdapterError> {
        groups(
            &api::Api::from_config()?,
            scope.as_deref(),
            cursor.as_deref(),
        )
    }

    fn list_group_containers(group: Group) -> Result<Vec<ContainerInfo>, AdapterError> {
        group_containers(&api::Api::from_config()?, &group)
    }
}

windlass_plugin_sdk::export_cloud_adapter!(Cpln);
