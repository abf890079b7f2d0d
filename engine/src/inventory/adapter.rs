//! An adapter target's inventory: `list-groups` and `list-group-containers` of its cloud
//! adapter plugin (contract 0.2.0, capability `inventory`). A plugin that traps or times out
//! is an error of that call (the host contains it and reports it as a plugin event).

use futures::FutureExt;
use futures::future::BoxFuture;
use windlass_host_api::CloudAdapter;
use windlass_host_api::types::{self as wit, AdapterError};

use super::source::{InventorySource, SourceError};
use super::types::{Group, GroupPage, Restarts, SourceContainer};

/// A target served by a cloud adapter.
#[derive(Debug, Clone)]
pub(crate) struct AdapterSource {
    target: String,
    adapter: CloudAdapter,
}

impl AdapterSource {
    pub(crate) fn new(target: String, adapter: CloudAdapter) -> Self {
        Self { target, adapter }
    }
}

fn source_error(error: AdapterError) -> SourceError {
    match error {
        AdapterError::RateLimited(ms) => SourceError::RateLimited(ms),
        AdapterError::QuotaExceeded(m) => SourceError::QuotaExceeded(m),
        AdapterError::NotFound(m) => SourceError::NotFound(m),
        AdapterError::Denied(m) => SourceError::Denied(m),
        AdapterError::Unavailable(m) => SourceError::Unavailable(m),
        AdapterError::Unsupported(m) => SourceError::Unsupported(m),
        AdapterError::Invalid(m) => SourceError::Other(format!("invalid: {m}")),
    }
}

fn answer<T, U>(
    result: Result<Result<T, AdapterError>, windlass_host_api::CallError>,
    map: impl FnOnce(T) -> U,
) -> Result<U, SourceError> {
    match result {
        Ok(Ok(value)) => Ok(map(value)),
        Ok(Err(error)) => Err(source_error(error)),
        Err(error) => Err(SourceError::Other(format!("the plugin failed: {error}"))),
    }
}

fn to_wit(group: &Group) -> wit::Group {
    wit::Group {
        id: group.id.clone(),
        name: group.name.clone(),
        scope: group.scope.clone(),
        kind: group.kind.clone(),
        suspended: group.suspended,
    }
}

fn from_wit(group: wit::Group) -> Group {
    Group {
        id: group.id,
        name: group.name,
        scope: group.scope,
        kind: group.kind,
        suspended: group.suspended,
    }
}

fn container(c: wit::ContainerInfo) -> SourceContainer {
    SourceContainer {
        id: c.id,
        name: c.name,
        image: c.image,
        state: c.state,
        labels: c.labels.into_iter().collect(),
        created_ms: c.created_ms,
        org: c.org,
        scope: c.scope,
        group: c.group,
        location: c.location,
        ready: c.ready,
        message: c.message,
        replicas: c.replicas,
        replicas_ready: c.replicas_ready,
        cpu_millis: c.cpu_millis,
        memory_bytes: c.memory_bytes,
        restarts: c.restarts.map(|r| Restarts {
            count: r.count,
            last_ms: r.last_ms,
            exit_code: r.exit_code,
            reason: r.reason,
        }),
        version: c.version,
        current_version: c.current_version,
        job_status: c.job_status,
        system: false,
    }
}

impl InventorySource for AdapterSource {
    fn target(&self) -> &str {
        &self.target
    }

    fn list_groups<'a>(
        &'a self,
        scope: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<GroupPage, SourceError>> {
        async move {
            answer(self.adapter.list_groups(scope, cursor).await, |page| {
                GroupPage {
                    groups: page.groups.into_iter().map(from_wit).collect(),
                    next_cursor: page.next_cursor,
                }
            })
        }
        .boxed()
    }

    fn list_group_containers<'a>(
        &'a self,
        group: &'a Group,
    ) -> BoxFuture<'a, Result<Vec<SourceContainer>, SourceError>> {
        async move {
            answer(
                self.adapter.list_group_containers(&to_wit(group)).await,
                |found| found.into_iter().map(container).collect(),
            )
        }
        .boxed()
    }
}
