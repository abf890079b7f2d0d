//! Builds from the operator's side: start one, list them, read or follow a log, cancel; the
//! build a declaration with a new source asks for; and what a crash left behind.

use std::sync::Arc;

use super::Engine;
use crate::builds::{BuildFilter, BuildRecord, BuildSource, BuildState, Live, LogFollow, builder};
use crate::{EngineError, NewEvent, ServiceSpec};

/// What starts a build ([`Engine::build`]).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The reference to build instead of the source's own (a branch, tag or commit).
    pub reference: Option<String>,
    /// What asked for it (`api` when empty).
    pub trigger: String,
    /// Builds with the same key are one build (a webhook's `org/stack/service@sha`): a second
    /// request returns the first build.
    pub dedupe_key: Option<String>,
}

impl Engine {
    /// Starts a build of a declared service with a build source: queued now, run in the
    /// background (at most the configured number at once). With a `dedupe_key` already used,
    /// returns that build instead.
    #[tracing::instrument(name = "engine.build", skip(self, request), fields(engine = %self.id()))]
    pub async fn build(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        request: BuildRequest,
    ) -> Result<BuildRecord, EngineError> {
        let source = self.build_source_of(org, stack, service).await?;
        if let Some(reference) = &request.reference
            && !crate::builds::source::valid_reference(reference)
        {
            return Err(crate::SpecError::new(
                "reference",
                format!("`{reference}` is not a branch, tag or commit name"),
            )
            .into());
        }
        let trigger = if request.trigger.is_empty() {
            "api".to_owned()
        } else {
            request.trigger
        };
        self.enqueue_build(
            org,
            stack,
            service,
            source,
            request.reference,
            &trigger,
            request.dedupe_key.as_deref(),
        )
        .await
    }

    /// Queues a build of `source` and starts its task.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enqueue_build(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        source: BuildSource,
        reference: Option<String>,
        trigger: &str,
        dedupe_key: Option<&str>,
    ) -> Result<BuildRecord, EngineError> {
        let ctx = &self.inner.ctx;
        let record = BuildRecord {
            id: format!("b-{:016x}", rand::random::<u64>()),
            org: org.to_owned(),
            stack: stack.to_owned(),
            service: service.to_owned(),
            state: BuildState::Queued,
            trigger: trigger.to_owned(),
            source: source.repository.clone(),
            reference: reference.or_else(|| source.reference.clone()),
            commit: None,
            strategy: None,
            plan: None,
            image: None,
            image_size: None,
            deployed_revision: None,
            error: None,
            hint: None,
            queued_ms: ctx.now_ms(),
            started_ms: None,
            finished_ms: None,
        };
        if !ctx
            .store
            .insert_build(&ctx.engine_id, &record, dedupe_key)
            .await?
        {
            let key = dedupe_key.unwrap_or_default();
            return match ctx.store.build_by_dedupe_key(key).await? {
                Some(existing) => Ok(existing),
                None => Err(EngineError::Conflict {
                    what: format!("build {}", record.id),
                }),
            };
        }
        let live = Arc::new(Live::new(org, stack, service));
        live.line(format!(
            "queued by {trigger}: {} at {}",
            record.source,
            record.reference.as_deref().unwrap_or("the default branch")
        ));
        if let Ok(mut running) = self.inner.builds.live.lock() {
            running.insert(record.id.clone(), live.clone());
        }
        ctx.emit(
            NewEvent::new("build-queued")
                .with_org(org)
                .with_stack(stack)
                .with_service(service)
                .with_payload(serde_json::json!({
                    "build": record.id,
                    "state": "queued",
                    "trigger": trigger,
                    "reference": record.reference,
                })),
        )
        .await;
        let engine = self.clone();
        let queued = record.clone();
        tokio::spawn(engine.build_task(queued, source, live));
        Ok(record)
    }

    /// Builds matching `filter`, newest first.
    pub async fn builds(&self, filter: &BuildFilter) -> Result<Vec<BuildRecord>, EngineError> {
        Ok(self.inner.ctx.store.list_builds(filter).await?)
    }

    /// One build.
    pub async fn build_record(&self, id: &str) -> Result<BuildRecord, EngineError> {
        self.inner
            .ctx
            .store
            .get_build(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("build {id}"),
            })
    }

    /// A build's log so far (the whole log once it finished).
    pub async fn build_log(&self, id: &str) -> Result<String, EngineError> {
        if let Some(live) = self.inner.builds.live(id) {
            return Ok(live.text());
        }
        self.inner
            .ctx
            .store
            .build_log(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("build {id}"),
            })
    }

    /// A build's log from its first line, then live until the build ends.
    pub async fn follow_build_log(&self, id: &str) -> Result<LogFollow, EngineError> {
        if let Some(live) = self.inner.builds.live(id) {
            return Ok(live.follow());
        }
        let log = self.build_log(id).await?;
        let lines: Vec<String> = log.lines().map(str::to_owned).collect();
        Ok(Box::pin(futures::stream::iter(lines)))
    }

    /// Cancels a queued or running build; a finished one is left as it is. Returns the record
    /// (`cancelled` once the build noticed, which is at once for every step).
    pub async fn cancel_build(&self, id: &str) -> Result<BuildRecord, EngineError> {
        let record = self.build_record(id).await?;
        if record.state.is_terminal() {
            return Ok(record);
        }
        let Some(live) = self.inner.builds.live(id) else {
            return Ok(record);
        };
        live.cancel.send_replace(true);
        let mut progress = live.follow();
        // The log ends when the build does.
        let wait = async { while futures::StreamExt::next(&mut progress).await.is_some() {} };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), wait).await;
        self.build_record(id).await
    }

    /// After a restart: builds this engine had not finished are failed (nothing of theirs was
    /// deployed), their clones and builder containers removed, and dangling images its builds
    /// left removed.
    pub(crate) async fn recover_builds(&self) -> Result<Vec<String>, EngineError> {
        let ctx = &self.inner.ctx;
        let mut failed = Vec::new();
        for mut record in ctx.store.unfinished_builds(&ctx.engine_id).await? {
            let live = Live::new(&record.org, &record.stack, &record.service);
            if let Some(log) = ctx.store.build_log(&record.id).await? {
                for line in log.lines() {
                    live.line(line.to_owned());
                }
            }
            let error = format!(
                "the engine stopped during the build (it was {}); nothing of it was deployed",
                record.state
            );
            live.line(format!("error: {error}"));
            record.hint = crate::builds::hint_for(&error);
            record.error = Some(error);
            self.transition(&mut record, BuildState::Failed, &live)
                .await;
            failed.push(record.id);
        }
        let work_dir = &self.inner.builds.work_dir;
        if let Ok(entries) = std::fs::read_dir(work_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        // Builder containers of those builds (a builder step stopped by the crash).
        let builders = [(builder::LABEL_BUILDER_OF, ctx.engine_id.as_str())];
        if let Ok(containers) = ctx.runtime.list_containers(&builders).await {
            for container in containers {
                let _ = ctx.runtime.remove_container(&container.id, true).await;
            }
        }
        let labels = [(crate::runtime::labels::LABEL_ENGINE, ctx.engine_id.as_str())];
        if let Ok(dangling) = ctx.runtime.list_built_images(&labels, true).await {
            for image in dangling {
                let _ = ctx.runtime.remove_image(&image.id).await;
            }
        }
        Ok(failed)
    }

    /// Records a webhook delivery; `false` when `delivery_id` was seen before.
    pub async fn record_webhook_delivery(
        &self,
        provider: &str,
        delivery_id: &str,
    ) -> Result<bool, EngineError> {
        let ctx = &self.inner.ctx;
        Ok(ctx
            .store
            .record_delivery(provider, delivery_id, ctx.now_ms())
            .await?)
    }

    /// When a declaration carries a build source: keeps the image the last build gave the
    /// service when the new spec leaves `image` empty, and says whether a build is needed
    /// (a new or changed source, or no image yet, and none running).
    pub(crate) fn prepare_build(
        &self,
        org: &str,
        stack: &str,
        spec: &mut ServiceSpec,
        previous: Option<&ServiceSpec>,
    ) -> bool {
        let Some(source) = &spec.build else {
            return false;
        };
        let same_source = previous.and_then(|p| p.build.as_ref()) == Some(source);
        if spec.image.is_empty()
            && let Some(previous) = previous.filter(|p| p.build.is_some() && !p.image.is_empty())
        {
            spec.image = previous.image.clone();
        }
        (!same_source || spec.image.is_empty()) && !self.inner.builds.busy(org, stack, &spec.name)
    }
}
