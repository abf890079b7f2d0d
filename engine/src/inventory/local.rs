//! The local Docker target (`local`): the engine's own containers, grouped by service (org,
//! stack and service from their labels); the engine's probe containers form a `system` group.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::source::{InventorySource, SourceError};
use super::types::{Group, GroupPage, SourceContainer};
use crate::health::route::LABEL_PROBE;
use crate::runtime::labels::{LABEL_ENGINE, LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use crate::runtime::{ContainerSummary, DockerRuntime};

/// The name of the local target.
pub const LOCAL_TARGET: &str = "local";

/// The local Docker engine's containers owned by this engine.
#[derive(Debug, Clone)]
pub(crate) struct LocalSource {
    runtime: DockerRuntime,
    engine_id: String,
}

const SYSTEM_GROUP: &str = "system/probes";

impl LocalSource {
    pub(crate) fn new(runtime: DockerRuntime, engine_id: String) -> Self {
        Self { runtime, engine_id }
    }

    fn unavailable(e: crate::RuntimeError) -> SourceError {
        SourceError::Unavailable(e.to_string())
    }

    async fn groups(&self) -> Result<GroupPage, SourceError> {
        let listed = self
            .runtime
            .list_containers(&[(LABEL_ENGINE, &self.engine_id)])
            .await
            .map_err(Self::unavailable)?;
        let mut groups = BTreeMap::new();
        for c in &listed {
            let group = if c.labels.contains_key(LABEL_PROBE) {
                Group {
                    id: SYSTEM_GROUP.to_owned(),
                    name: "probes".to_owned(),
                    scope: "system".to_owned(),
                    kind: "system".to_owned(),
                    suspended: false,
                }
            } else {
                let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
                let (org, stack, service) =
                    (label(LABEL_ORG), label(LABEL_STACK), label(LABEL_SERVICE));
                Group {
                    id: format!("{org}/{stack}/{service}"),
                    name: service,
                    scope: stack,
                    kind: "service".to_owned(),
                    suspended: false,
                }
            };
            groups.insert(group.id.clone(), group);
        }
        Ok(GroupPage {
            groups: groups.into_values().collect(),
            next_cursor: None,
        })
    }

    async fn containers(&self, group: &Group) -> Result<Vec<SourceContainer>, SourceError> {
        let listed = if group.id == SYSTEM_GROUP {
            self.runtime
                .list_containers(&[(LABEL_ENGINE, &self.engine_id), (LABEL_PROBE, "true")])
                .await
        } else {
            let mut parts = group.id.splitn(3, '/');
            let (org, stack, service) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            self.runtime
                .list_containers(&[
                    (LABEL_ENGINE, &self.engine_id),
                    (LABEL_ORG, org),
                    (LABEL_STACK, stack),
                    (LABEL_SERVICE, service),
                ])
                .await
        }
        .map_err(Self::unavailable)?;
        Ok(listed
            .into_iter()
            .filter(|c| (group.id == SYSTEM_GROUP) == c.labels.contains_key(LABEL_PROBE))
            .map(|c| from_summary(c, group.id == SYSTEM_GROUP))
            .collect())
    }
}

fn from_summary(c: ContainerSummary, system: bool) -> SourceContainer {
    let created_ms = c
        .created
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let running = c.status.as_str() == "running";
    SourceContainer {
        org: c.labels.get(LABEL_ORG).cloned(),
        scope: c.labels.get(LABEL_STACK).cloned(),
        group: c.labels.get(LABEL_SERVICE).cloned(),
        location: Some(LOCAL_TARGET.to_owned()),
        ready: Some(running),
        id: c.id,
        name: c.name,
        image: c.image,
        state: c.status.as_str().to_owned(),
        created_ms,
        labels: c.labels,
        system,
        ..SourceContainer::default()
    }
}

impl InventorySource for LocalSource {
    fn target(&self) -> &str {
        LOCAL_TARGET
    }

    fn list_groups<'a>(
        &'a self,
        _scope: Option<&'a str>,
        _cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<GroupPage, SourceError>> {
        self.groups().boxed()
    }

    fn list_group_containers<'a>(
        &'a self,
        group: &'a Group,
    ) -> BoxFuture<'a, Result<Vec<SourceContainer>, SourceError>> {
        self.containers(group).boxed()
    }
}
