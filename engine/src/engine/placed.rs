//! What runs on adapter targets as the engine shows it beside its local containers: the
//! placed services' containers (`windlass ps`) and their logs (`windlass logs`), read through
//! each target's adapter.

use std::collections::BTreeSet;

use super::placement::{reference, writable};
use super::{ContainerFilter, Engine, ManagedContainer};
use crate::runtime::labels::{LABEL_ENGINE, LABEL_ORG, LABEL_REVISION, LABEL_SERVICE, LABEL_STACK};
use crate::targets::adapter_answer;
use crate::{EngineError, LogLine, LogOptions, LogSource};

/// The most lines asked of an adapter for one placed container's logs.
const MAX_PLACED_LOG_LINES: u32 = 10_000;

impl Engine {
    /// The containers of placed services matching `filter`, as their targets list them: one
    /// call per target holding such a placement. A target that does not answer is left out
    /// (and logged): the local containers are still worth showing.
    pub(crate) async fn placed_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ManagedContainer>, EngineError> {
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let placements = self.inner.ctx.store.placements().await?;
        let targets: BTreeSet<&str> = placements
            .iter()
            .filter(|p| {
                wanted(&filter.org, &p.org)
                    && wanted(&filter.stack, &p.stack)
                    && wanted(&filter.service, &p.service)
            })
            .map(|p| p.target.as_str())
            .collect();
        let mut labels = vec![(LABEL_ENGINE.to_owned(), self.id().to_owned())];
        for (key, value) in [
            (LABEL_ORG, &filter.org),
            (LABEL_STACK, &filter.stack),
            (LABEL_SERVICE, &filter.service),
        ] {
            if let Some(value) = value {
                labels.push((key.to_owned(), value.clone()));
            }
        }
        let query = windlass_host_api::types::ContainerFilter {
            labels,
            name_prefix: None,
        };
        let mut out = Vec::new();
        for name in targets {
            let Ok((_, adapter)) = writable(&self.inner, name) else {
                continue;
            };
            let found = match adapter_answer(name, adapter.list_containers(&query).await) {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(target = name, %error, "the target's containers could not be listed");
                    continue;
                }
            };
            out.extend(found.into_iter().map(|c| {
                let label = |key: &str| {
                    c.labels
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                };
                ManagedContainer {
                    org: label(LABEL_ORG).unwrap_or_default(),
                    stack: label(LABEL_STACK).unwrap_or_default(),
                    service: label(LABEL_SERVICE).unwrap_or_default(),
                    slot: c.name.rsplit_once('.').and_then(|(_, s)| s.parse().ok()),
                    revision: label(LABEL_REVISION).and_then(|r| r.parse().ok()),
                    status: crate::ContainerStatus::parse(&c.state),
                    state: None,
                    restart_count: c.restarts.as_ref().map_or(0, |r| r.count),
                    last_exit_code: c.restarts.as_ref().and_then(|r| r.exit_code).map(i64::from),
                    ready: c.ready,
                    target: name.to_owned(),
                    node: c.location,
                    name: c.name,
                    id: c.id,
                    image: c.image,
                }
            }));
        }
        Ok(out)
    }

    /// The last lines of a placed container (a replica of a service on an adapter target, by
    /// name or id); `None` when no placed container has that name or id. The adapter contract
    /// returns a deployment's last `tail` lines, each naming its task: this container's are
    /// those of its current task, so fewer than `tail` may come back. The contract has no way
    /// to follow a deployment's output: `follow` is refused with that reason.
    pub(crate) async fn placed_logs(
        &self,
        name: &str,
        options: &LogOptions,
    ) -> Result<Option<Vec<LogLine>>, EngineError> {
        let containers = self.placed_containers(&ContainerFilter::default()).await?;
        let Some(container) = containers
            .into_iter()
            .find(|c| c.name == name || c.id == name)
        else {
            return Ok(None);
        };
        if options.follow {
            return Err(EngineError::Conflict {
                what: format!(
                    "container {name} runs on target `{}`, whose adapter returns the last lines \
                     of a service and cannot follow them: ask without follow",
                    container.target
                ),
            });
        }
        let placement = self
            .inner
            .ctx
            .store
            .placements()
            .await?
            .into_iter()
            .find(|p| {
                p.org == container.org
                    && p.stack == container.stack
                    && p.service == container.service
            })
            .ok_or_else(|| EngineError::NotFound {
                what: format!("placement of container {name}"),
            })?;
        let (_, adapter) = writable(&self.inner, &placement.target)?;
        let deployment = reference(&placement);
        let status = adapter_answer(&placement.target, adapter.status(&deployment).await)?;
        let tasks: BTreeSet<String> = status
            .tasks
            .into_iter()
            .filter(|t| t.id == container.id || t.container_id.as_deref() == Some(&container.id))
            .map(|t| t.id)
            .collect();
        let tail = options.tail.map_or(MAX_PLACED_LOG_LINES, |t| {
            u32::try_from(t)
                .unwrap_or(u32::MAX)
                .min(MAX_PLACED_LOG_LINES)
        });
        let lines = adapter_answer(&placement.target, adapter.logs(&deployment, tail).await)?;
        let since_ms = options.since.map(|s| s.saturating_mul(1000));
        Ok(Some(
            lines
                .into_iter()
                .filter(|l| tasks.contains(&l.container))
                .filter(|l| {
                    since_ms.is_none_or(|s| i64::try_from(l.timestamp_ms).is_ok_and(|t| t >= s))
                })
                .map(|l| LogLine {
                    timestamp: i64::try_from(l.timestamp_ms)
                        .ok()
                        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    stream: if l.stream == "stderr" {
                        LogSource::Stderr
                    } else {
                        LogSource::Stdout
                    },
                    text: l.line,
                })
                .collect(),
        ))
    }
}
