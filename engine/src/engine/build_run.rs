//! One build, from the queue to the service's new revision: wait for a slot, fetch, check the
//! tree, detect and plan, run the plan's builder step if it has one, build on Docker, keep the
//! last images, hand the image to the service.
//! Every state change is persisted (with the log so far), then emitted as `build-<state>`.
//! Cancelling (or the engine dropping the task) stops whatever step runs: git is killed, the
//! Docker request is dropped (Docker stops the build), a builder step's container is removed,
//! the clone is removed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use windlass_host_api::types::{BuildOptions, DockerfileSource};

use super::Engine;
use crate::builds::clone::{self, TreeLimits};
use crate::builds::{self, BuildRecord, BuildSource, BuildState, Live, builder, context, strategy};
use crate::runtime::build::{BuildOutput, ImageBuild, ImageContent};
use crate::runtime::labels::{LABEL_ENGINE, LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use crate::{NewEvent, ServiceSpec};

/// How a build ended early.
enum Stop {
    Failed(String),
    Cancelled,
}

impl<E: std::fmt::Display> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.to_string())
    }
}

impl Engine {
    /// The task of one build (boxed: see `deploy_built`).
    pub(crate) fn build_task(
        self,
        record: BuildRecord,
        source: BuildSource,
        live: Arc<Live>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { self.run_build(record, source, live).await })
    }

    /// Runs build `record` of `source` to its end. Never fails: the record says how it went.
    pub(crate) async fn run_build(
        &self,
        mut record: BuildRecord,
        source: BuildSource,
        live: Arc<Live>,
    ) {
        let dir = self.inner.builds.work_dir.join(&record.id);
        // The service's last clone, when it has one: the fetch then brings only what changed.
        let service = format!("{}/{}/{}", record.org, record.stack, record.service);
        let kept = &self.inner.builds.kept;
        if kept.take(&service, &source.repository, &dir) {
            live.line("reusing the service's kept clone".to_owned());
        }
        let outcome = self.build_steps(&mut record, &source, &live, &dir).await;
        let cleaned = if outcome.is_ok() {
            let (kept, repository, dir) = (kept.clone(), source.repository.clone(), dir.clone());
            tokio::task::spawn_blocking(move || kept.park(&service, &repository, &dir))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        } else {
            tokio::fs::remove_dir_all(&dir).await
        };
        if let Err(error) = cleaned
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, dir = %dir.display(), "could not remove a build's clone");
        }
        match outcome {
            Ok(()) => {}
            Err(Stop::Cancelled) => {
                live.line("cancelled");
                record.error = Some("cancelled".to_owned());
                self.transition(&mut record, BuildState::Cancelled, &live)
                    .await;
            }
            Err(Stop::Failed(error)) => {
                live.line(format!("error: {error}"));
                record.hint = builds::hint_for(&error);
                if let Some(hint) = &record.hint {
                    live.line(format!("hint: {hint}"));
                }
                record.error = Some(error);
                self.transition(&mut record, BuildState::Failed, &live)
                    .await;
            }
        }
        self.meter_build(&record).await;
        live.finish();
        if let Ok(mut running) = self.inner.builds.live.lock() {
            running.remove(&record.id);
        }
    }

    /// The credentials of a private source, read from the org's secret store for this fetch
    /// (audited as a `secret-read` with purpose `build-clone`): a token for HTTP(S), a private
    /// key for SSH.
    async fn clone_auth(
        &self,
        org: &str,
        source: &BuildSource,
    ) -> Result<Option<clone::CloneAuth>, Stop> {
        let Some(credentials) = &source.credentials else {
            return Ok(None);
        };
        let secret = self
            .secret_value(org, &credentials.secret, "build-clone")
            .await
            .map_err(|e| Stop::Failed(format!("build credentials: {e}")))?;
        Ok(Some(if source.repository.trim().starts_with("ssh://") {
            clone::CloneAuth::SshKey(secret.value)
        } else {
            clone::CloneAuth::Token {
                username: credentials.username().to_owned(),
                token: secret.value,
            }
        }))
    }

    async fn build_steps(
        &self,
        record: &mut BuildRecord,
        source: &BuildSource,
        live: &Arc<Live>,
        dir: &Path,
    ) -> Result<(), Stop> {
        let ctx = &self.inner.ctx;
        let builds = &self.inner.builds;
        let mut cancel = live.cancel.subscribe();
        let cancelled = async move {
            let _ = cancel.wait_for(|c| *c).await;
        };
        let mut cancelled = std::pin::pin!(cancelled);

        // Queued until a slot is free.
        let _slot = tokio::select! {
            slot = builds.slots.clone().acquire_owned() => slot.map_err(|_| Stop::Failed("the engine is shutting down".into()))?,
            () = &mut cancelled => return Err(Stop::Cancelled),
        };
        record.started_ms = Some(ctx.now_ms());
        self.transition(record, BuildState::Cloning, live).await;

        // Fetch and check the tree.
        let log = |line: String| live.line(line);
        let config = &builds.config;
        let auth = self.clone_auth(&record.org, source).await?;
        let fetch_started = Instant::now();
        let commit = tokio::select! {
            commit = clone::fetch(source, record.reference.as_deref(), dir, auth.as_ref(), config.clone_timeout, &log) => commit?,
            () = &mut cancelled => return Err(Stop::Cancelled),
        };
        record.commit = Some(commit.clone());
        live.line(format!(
            "fetched in {} ms",
            fetch_started.elapsed().as_millis()
        ));
        let limits = TreeLimits {
            max_file_bytes: config.max_file_bytes,
            max_tree_bytes: config.max_tree_bytes,
            max_files: config.max_files,
        };
        let root = dir.to_path_buf();
        let summary = tokio::task::spawn_blocking(move || clone::check_tree(&root, limits))
            .await
            .map_err(|e| Stop::Failed(e.to_string()))??;
        live.line(format!(
            "tree: {} files, {} bytes",
            summary.files, summary.bytes
        ));
        let detect_dir = match &source.subdirectory {
            Some(sub) => clone::check_inside(dir, sub, "build.subdirectory")?,
            None => dir.to_path_buf(),
        };
        self.transition(record, BuildState::Detecting, live).await;

        // Detect and plan.
        let tag = builds::image_tag(
            &ctx.engine_id,
            &record.org,
            &record.stack,
            &record.service,
            &commit.sha,
        );
        let options = BuildOptions {
            image_tag: tag.clone(),
            build_args: source
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            subdirectory: source.subdirectory.clone(),
        };
        let plan_started = Instant::now();
        let chosen = tokio::select! {
            chosen = strategy::choose(&config.strategies, source.strategy.as_deref(), dir, &detect_dir, &options, &log) => chosen?,
            () = &mut cancelled => return Err(Stop::Cancelled),
        };
        record.strategy = Some(chosen.name.clone());
        record.plan = Some(strategy::plan_json(&chosen));
        let plan = &chosen.plan;
        let context_dir = if plan.context.is_empty() || plan.context == "." {
            dir.to_path_buf()
        } else {
            clone::check_inside(dir, &plan.context, "plan.context")?
        };
        let dockerfile = match &plan.dockerfile {
            DockerfileSource::Inline(text) => text.clone(),
            DockerfileSource::Path(path) => {
                let at = clone::check_inside(dir, path, "plan.dockerfile")?;
                tokio::fs::read_to_string(&at)
                    .await
                    .map_err(|e| Stop::Failed(format!("reading the Dockerfile `{path}`: {e}")))?
            }
        };
        live.line(format!(
            "plan: {} by {}, context `{}` (detected and planned in {} ms)",
            plan.language,
            chosen.name,
            plan.context,
            plan_started.elapsed().as_millis()
        ));
        for phase in &plan.phases {
            live.line(format!("  {}: {}", phase.name, phase.commands.join(" && ")));
        }
        self.transition(record, BuildState::Building, live).await;

        // Build on Docker, the context streamed from the clone.
        let mut build_args: HashMap<String, String> = plan.build_args.iter().cloned().collect();
        build_args.extend(source.build_args.clone());
        // The labels are one instruction at the end of the Dockerfile (see
        // `context::with_labels`: Docker makes a step of each label of a request). The build's
        // own id is in it too when the context keeps the Dockerfile out of the image (a
        // builder step's output always does, a tree without a `.dockerignore` of its own
        // does); otherwise it is the request's, so that the Dockerfile, then part of the
        // context, stays the same for the same commit and a `COPY . /` stays cached.
        let hidden = plan.builder.is_some() || context::hides_dockerfile(&context_dir);
        let mut labels = vec![
            (LABEL_ENGINE, ctx.engine_id.as_str()),
            (LABEL_ORG, record.org.as_str()),
            (LABEL_STACK, record.stack.as_str()),
            (LABEL_SERVICE, record.service.as_str()),
            (builds::LABEL_COMMIT, commit.sha.as_str()),
        ];
        let mut request_labels = HashMap::new();
        if hidden {
            labels.push((builds::LABEL_BUILD, record.id.as_str()));
        } else {
            request_labels.insert(builds::LABEL_BUILD.to_owned(), record.id.clone());
        }
        let dockerfile = context::with_labels(&dockerfile, labels);
        let request = ImageBuild {
            tag: tag.clone(),
            dockerfile: context::DOCKERFILE_NAME.to_owned(),
            build_args,
            labels: request_labels,
            timeout: config.build_timeout,
        };
        // What the tag holds from an earlier build of this commit, if anything.
        let previous = ctx
            .runtime
            .image_content(&tag, builds::LABEL_BUILD)
            .await
            .ok()
            .flatten();
        // A builder step runs first; its output, not the tree, is then the context.
        let mut builder = None;
        if let Some(step) = &plan.builder {
            let run = builder::StepRun {
                runtime: &ctx.runtime,
                engine_id: &ctx.engine_id,
                build_id: &record.id,
                labels: vec![
                    (LABEL_ORG, record.org.clone()),
                    (LABEL_STACK, record.stack.clone()),
                    (LABEL_SERVICE, record.service.clone()),
                ],
                context_dir: context_dir.clone(),
                timeout: config.build_timeout,
            };
            builder = Some(tokio::select! {
                container = run.run(step, &log) => container.map_err(Stop::Failed)?,
                () = &mut cancelled => return Err(Stop::Cancelled),
            });
        }
        let context: std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>> = match &builder {
            Some(container) => {
                let limits = context::OutputLimits {
                    max_files: config.max_files,
                    max_bytes: config.max_tree_bytes,
                };
                Box::pin(context::from_archive(
                    container.output(),
                    dockerfile,
                    limits,
                ))
            }
            None => Box::pin(context::stream(context_dir, Some(dockerfile))),
        };
        let started = Instant::now();
        let mut output = std::pin::pin!(ctx.runtime.build_image(&request, context));
        loop {
            let item = tokio::select! {
                item = output.next() => item,
                () = &mut cancelled => return Err(Stop::Cancelled),
            };
            match item {
                None => break,
                Some(Ok(BuildOutput::Line(text))) => {
                    for line in text.lines() {
                        live.line(line.to_owned());
                    }
                }
                Some(Ok(BuildOutput::Failed(message))) => return Err(Stop::Failed(message)),
                Some(Err(error)) => return Err(error.into()),
            }
        }
        live.line(format!(
            "built {tag} in {} ms",
            started.elapsed().as_millis()
        ));
        if let Some(container) = builder {
            container.remove().await;
        }
        let (image, unchanged) = self.settle_image(record, &tag, previous, live).await?;
        record.image = Some(image.clone());
        record.image_size = ctx.runtime.image_size(&image).await?;
        self.transition(record, BuildState::Succeeded, live).await;

        // The image becomes the service's next revision (the rolling update deploys it); the
        // image it already runs changes nothing.
        match self.deploy_built(record, &image).await {
            Ok((revision, false)) if unchanged => {
                record.deployed_revision = Some(revision);
                live.line(format!(
                    "the service already runs this image: it stays at revision {revision} (not rolled)"
                ));
            }
            Ok((revision, _)) => {
                record.deployed_revision = Some(revision);
                live.line(format!("deployed as revision {revision}"));
            }
            Err(error) => {
                live.line(format!("not deployed: {error}"));
                record.error = Some(format!("built, but not deployed: {error}"));
            }
        }
        // After the deploy, not before: removing images takes Docker a while, and nothing that
        // serves waits for it.
        self.prune_images(record, &image, live).await;
        self.persist(record, live).await;
        Ok(())
    }

    /// A rebuild of a commit whose tag already names an image. The same layers and
    /// configuration (the build's own label aside) keep the image there was: the new one is
    /// removed and the tag stays, so the service is not rolled for nothing. A different image
    /// (a build step that is not reproducible) gets a tag of its own, so deploying it is a new
    /// revision. Returns the image to deploy and whether it is the one there was.
    async fn settle_image(
        &self,
        record: &BuildRecord,
        tag: &str,
        previous: Option<ImageContent>,
        live: &Live,
    ) -> Result<(String, bool), Stop> {
        let Some(previous) = previous else {
            return Ok((tag.to_owned(), false));
        };
        let runtime = &self.inner.ctx.runtime;
        let built = runtime
            .image_content(tag, builds::LABEL_BUILD)
            .await?
            .ok_or_else(|| Stop::Failed(format!("the built image {tag} is not on the host")))?;
        let short = |id: &str| {
            id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        if built.id == previous.id {
            live.line(format!("image unchanged ({})", short(&built.id)));
            return Ok((tag.to_owned(), true));
        }
        if built.content == previous.content {
            runtime.tag_image(&previous.id, tag).await?;
            let _ = runtime.remove_image(&built.id).await;
            live.line(format!(
                "image unchanged: the same layers and configuration as {}, built before from this commit; kept that one",
                short(&previous.id)
            ));
            return Ok((tag.to_owned(), true));
        }
        let suffix: String = record.id.trim_start_matches("b-").chars().take(8).collect();
        let unique = format!("{tag}-{suffix}");
        runtime.tag_image(&built.id, &unique).await?;
        runtime.tag_image(&previous.id, tag).await?;
        live.line(format!(
            "this commit built a different image than before (a build step that is not reproducible): tagged {unique}"
        ));
        Ok((unique, false))
    }

    /// Sets the built image on the service's stored spec and applies it; returns the
    /// service's revision and whether it changed.
    async fn deploy_built(
        &self,
        record: &BuildRecord,
        tag: &str,
    ) -> Result<(u64, bool), crate::EngineError> {
        let ctx = &self.inner.ctx;
        let Some(desired) = ctx
            .store
            .get_desired_service(&record.org, &record.stack, &record.service)
            .await?
        else {
            return Err(crate::EngineError::NotFound {
                what: format!("service {}/{}/{}", record.org, record.stack, record.service),
            });
        };
        let before = desired.revision;
        let mut spec: ServiceSpec = serde_json::from_value(desired.spec)
            .map_err(|e| crate::EngineError::Config(e.to_string()))?;
        spec.image = tag.to_owned();
        // Boxed: `apply` may queue a build, whose task runs this function (a cycle the
        // compiler cannot prove `Send` through otherwise).
        let engine = self.clone();
        let (org, stack) = (record.org.clone(), record.stack.clone());
        let apply: std::pin::Pin<
            Box<
                dyn Future<Output = Result<crate::store::DesiredService, crate::EngineError>>
                    + Send,
            >,
        > = Box::pin(async move { engine.apply(&org, &stack, spec).await });
        let revision = apply.await?.revision;
        Ok((revision, revision != before))
    }

    /// Removes this service's built images beyond the newest `keep_images` (never `current`,
    /// never one a container uses).
    async fn prune_images(&self, record: &BuildRecord, current: &str, live: &Live) {
        let ctx = &self.inner.ctx;
        let labels = [
            (LABEL_ENGINE, ctx.engine_id.as_str()),
            (LABEL_ORG, record.org.as_str()),
            (LABEL_STACK, record.stack.as_str()),
            (LABEL_SERVICE, record.service.as_str()),
        ];
        let Ok(mut images) = ctx.runtime.list_built_images(&labels, false).await else {
            return;
        };
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        let keep = self.inner.builds.config.keep_images.max(1);
        for image in images.iter().skip(keep) {
            if image.tags.iter().any(|t| t == current) {
                continue;
            }
            if let Ok(true) = ctx.runtime.remove_image(&image.id).await {
                live.line(format!("removed old image {}", image.tags.join(", ")));
            }
        }
    }

    /// Moves `record` to `next` (if its state machine allows), persists it with the log so
    /// far, then emits `build-<next>`.
    pub(crate) async fn transition(&self, record: &mut BuildRecord, next: BuildState, live: &Live) {
        if !record.state.can_become(next) {
            return;
        }
        let ctx = &self.inner.ctx;
        record.state = next;
        if next.is_terminal() {
            record.finished_ms = Some(ctx.now_ms());
        }
        live.line(format!("-- {next}"));
        self.persist(record, live).await;
        let mut payload = serde_json::json!({
            "build": record.id,
            "state": next.as_str(),
            "trigger": record.trigger,
        });
        if let Some(commit) = &record.commit {
            payload["commit"] = serde_json::json!(commit.sha);
        }
        if let Some(image) = &record.image {
            payload["image"] = serde_json::json!(image);
        }
        if let Some(ms) = record.duration_ms() {
            payload["duration_ms"] = serde_json::json!(ms);
        }
        if next == BuildState::Failed {
            payload["error"] = serde_json::json!(record.error);
            payload["hint"] = serde_json::json!(record.hint);
            payload["log_tail"] = serde_json::json!(live.tail(20));
        }
        ctx.emit(
            NewEvent::new(format!("build-{next}"))
                .with_org(&record.org)
                .with_stack(&record.stack)
                .with_service(&record.service)
                .with_payload(payload),
        )
        .await;
    }

    /// Meters the wall time a finished build ran for its org (`build_usage`, once per build:
    /// writing it again changes nothing). A build that never left the queue ran for nothing; one
    /// the engine stopped during (failed when it starts again) is not metered: how long it ran
    /// is not known, and nothing is invented, as for a metering gap.
    async fn meter_build(&self, record: &BuildRecord) {
        let ctx = &self.inner.ctx;
        let Some(usage) = crate::billing::BuildUsage::of(&ctx.engine_id, record) else {
            return;
        };
        if let Err(error) = ctx.store.insert_build_usage(&usage).await {
            tracing::error!(%error, build = %record.id, "could not meter a build's seconds");
        }
    }

    /// Writes the record and the log so far.
    async fn persist(&self, record: &BuildRecord, live: &Live) {
        let store = &self.inner.ctx.store;
        if let Err(error) = store.update_build(record).await {
            tracing::error!(%error, build = %record.id, "could not store a build's state");
        }
        if let Err(error) = store.set_build_log(&record.id, &live.text()).await {
            tracing::error!(%error, build = %record.id, "could not store a build's log");
        }
    }
}
