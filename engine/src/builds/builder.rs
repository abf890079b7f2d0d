//! A plan's builder step (`build-plan.builder`, contract 0.2.0): a build tool the host runs in
//! a container before the image build, for trees a Dockerfile alone does not build well (the
//! Nix strategy's store must outlive one build). The step's output directory, not the tree, is
//! then the image build's context (`context::from_archive`).
//!
//! One run: the step is checked; its caches are Docker volumes (`windlass-build-cache-NAME`,
//! one per name on the host, shared by the builds that name it); the container is created
//! with the context at [`SOURCE_DIR`] (its working directory), started, its output streamed
//! into the build's log, and waited for. A non-zero exit fails the build. The container stays
//! (stopped) until the image build has read its output, then goes; a cancelled or failed build
//! removes it too ([`BuilderContainer`]'s drop), and one left by a crash is removed when the
//! engine starts (`Engine::recover_builds`, by [`LABEL_BUILDER_OF`]).
//!
//! The container carries none of the engine's service labels (`dev.windlass.engine`): the
//! reconciler would take it for an orphan of the engine and remove it mid-build.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use windlass_host_api::types::BuilderStep;

use crate::runtime::{ContainerSpec, CreateExtras, DockerRuntime, LogOptions, VolumeSpec};

/// Where the builder container gets the plan's context (and its working directory).
pub(crate) const SOURCE_DIR: &str = "/src";
/// Label on a builder container: the engine whose build runs it.
pub(crate) const LABEL_BUILDER_OF: &str = "dev.windlass.builder-of";
/// Label on a build cache volume: the cache's name.
pub(crate) const LABEL_CACHE: &str = "dev.windlass.build-cache";
/// How many caches one step may name.
const MAX_CACHES: usize = 8;

/// The Docker volume that holds cache `name`.
pub fn cache_volume(name: &str) -> String {
    format!("windlass-build-cache-{name}")
}

/// Whether `step` is one the host runs: an image, a command, absolute paths, cache names of
/// letters, digits, `-` and `_`, each once. A strategy's mistake is reported as the build's
/// error, before anything is created.
pub(crate) fn check(step: &BuilderStep) -> Result<(), String> {
    let bad = |what: String| Err(format!("the plan's builder step is not runnable: {what}"));
    if step.image.trim().is_empty() || step.image.contains(char::is_whitespace) {
        return bad(format!("image `{}` is not an image reference", step.image));
    }
    if step.command.is_empty() || step.command[0].is_empty() {
        return bad("its command is empty".to_owned());
    }
    let absolute = |path: &str| {
        path.starts_with('/') && !path.split('/').any(|part| part == "..") && !path.contains('\0')
    };
    if !absolute(&step.output) || step.output == "/" {
        return bad(format!(
            "output `{}` must be an absolute directory other than /",
            step.output
        ));
    }
    if step.caches.len() > MAX_CACHES {
        return bad(format!(
            "{} caches named; at most {MAX_CACHES}",
            step.caches.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for cache in &step.caches {
        if cache.name.is_empty()
            || cache.name.len() > 64
            || !cache
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(format!(
                "cache name `{}` must be 1-64 letters, digits, `-` or `_`",
                cache.name
            ));
        }
        if !absolute(&cache.path) || cache.path == "/" || cache.path == SOURCE_DIR {
            return bad(format!(
                "cache `{}` path `{}` must be an absolute directory other than / and {SOURCE_DIR}",
                cache.name, cache.path
            ));
        }
        if !seen.insert(cache.path.as_str()) {
            return bad(format!("path `{}` is named by two caches", cache.path));
        }
    }
    if let Some((key, _)) = step
        .env
        .iter()
        .find(|(k, _)| k.is_empty() || k.contains('=') || k.contains('\0'))
    {
        return bad(format!("environment variable name `{key}` is not valid"));
    }
    Ok(())
}

/// What one builder step runs with.
pub(crate) struct StepRun<'a> {
    pub runtime: &'a DockerRuntime,
    pub engine_id: &'a str,
    pub build_id: &'a str,
    /// Labels naming the build's service (org, stack, service), for whoever lists containers.
    pub labels: Vec<(&'static str, String)>,
    /// The directory whose contents the step gets at [`SOURCE_DIR`].
    pub context_dir: PathBuf,
    /// How long uploading the context and running the step may take.
    pub timeout: Duration,
}

impl StepRun<'_> {
    /// Runs `step` to its end, its output lines handed to `log`. On success the stopped
    /// container is returned, its output still to be read.
    pub(crate) async fn run(
        self,
        step: &BuilderStep,
        log: &(dyn Fn(String) + Send + Sync),
    ) -> Result<BuilderContainer, String> {
        check(step)?;
        let runtime = self.runtime;
        for cache in &step.caches {
            let volume = VolumeSpec::new(cache_volume(&cache.name))
                .with_label(LABEL_CACHE, cache.name.clone());
            runtime
                .ensure_volume(&volume)
                .await
                .map_err(|e| format!("the builder's cache `{}`: {e}", cache.name))?;
        }
        let mut spec =
            ContainerSpec::new(format!("windlass-builder-{}", self.build_id), &step.image)
                .with_command(step.command.iter().cloned())
                .with_label(LABEL_BUILDER_OF, self.engine_id)
                .with_label(super::LABEL_BUILD, self.build_id);
        for (key, value) in &self.labels {
            spec = spec.with_label(*key, value.clone());
        }
        for (key, value) in &step.env {
            spec = spec.with_env(key.clone(), value.clone());
        }
        for cache in &step.caches {
            spec = spec.with_volume(cache_volume(&cache.name), cache.path.clone(), false);
        }
        let id = runtime
            .create_container_with(
                &spec,
                CreateExtras {
                    working_dir: Some(SOURCE_DIR.to_owned()),
                    ..CreateExtras::default()
                },
            )
            .await
            .map_err(|e| match e {
                crate::RuntimeError::ImageMissing { image } => format!(
                    "the builder image {image} is not on this Docker host (no such image; the engine never pulls)"
                ),
                other => format!("creating the builder container: {other}"),
            })?;
        let container = BuilderContainer {
            runtime: runtime.clone(),
            id,
            output: step.output.clone(),
            removed: false,
        };
        let started = std::time::Instant::now();
        let work = async {
            runtime
                .upload(
                    &container.id,
                    SOURCE_DIR,
                    super::context::stream(self.context_dir.clone(), None),
                    self.timeout,
                )
                .await
                .map_err(|e| format!("copying the context into the builder: {e}"))?;
            log(format!(
                "builder: {} {} (context copied in {} ms)",
                step.image,
                step.command.first().map_or("", String::as_str),
                started.elapsed().as_millis()
            ));
            runtime
                .start_container(&container.id)
                .await
                .map_err(|e| format!("starting the builder: {e}"))?;
            let mut lines = std::pin::pin!(runtime.logs(
                &container.id,
                LogOptions {
                    follow: true,
                    ..LogOptions::default()
                }
            ));
            while let Some(line) = lines.next().await {
                match line {
                    Ok(line) => log(line.text),
                    Err(e) => {
                        log(format!("builder: its log could not be followed: {e}"));
                        break;
                    }
                }
            }
            runtime
                .wait_exit(&container.id, self.timeout)
                .await
                .map_err(|e| format!("waiting for the builder: {e}"))
        };
        let code = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                format!(
                    "the builder step took longer than {} s",
                    self.timeout.as_secs()
                )
            })??;
        if code != 0 {
            return Err(format!(
                "the builder step ({}) returned a non-zero code: {code}",
                step.image
            ));
        }
        log(format!(
            "builder: done in {} ms",
            started.elapsed().as_millis()
        ));
        Ok(container)
    }
}

/// A builder container, removed when it is dropped (a cancelled or failed build leaves none
/// behind) or by [`remove`](Self::remove).
pub(crate) struct BuilderContainer {
    runtime: DockerRuntime,
    id: String,
    /// The step's output directory in the container.
    output: String,
    removed: bool,
}

impl BuilderContainer {
    /// The step's output directory as Docker's archive endpoint sends it.
    pub(crate) fn output(
        &self,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
        self.runtime
            .download(&self.id, &self.output)
            .map(|chunk| chunk.map_err(std::io::Error::other))
    }

    /// Removes the container now.
    pub(crate) async fn remove(mut self) {
        self.removed = true;
        if let Err(error) = self.runtime.remove_container(&self.id, true).await
            && !error.is_not_found()
        {
            tracing::warn!(%error, container = %self.id, "could not remove a builder container");
        }
    }
}

impl Drop for BuilderContainer {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (runtime, id) = (self.runtime.clone(), std::mem::take(&mut self.id));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = runtime.remove_container(&id, true).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_host_api::types::BuildCache;

    fn step() -> BuilderStep {
        BuilderStep {
            image: "windlass-test/nix:2".into(),
            command: vec!["sh".into(), "-c".into(), "true".into()],
            env: vec![("A".into(), "1".into())],
            caches: vec![BuildCache {
                name: "nix-store".into(),
                path: "/nix".into(),
            }],
            output: "/windlass-out".into(),
        }
    }

    /// A change that makes a step wrong, and what the error must say.
    type Case = (Box<dyn Fn(&mut BuilderStep)>, &'static str);

    #[test]
    fn a_step_is_checked_before_anything_runs() {
        assert_eq!(check(&step()), Ok(()));
        let cases: Vec<Case> = vec![
            (Box::new(|s| s.image = "a b".into()), "image"),
            (Box::new(|s| s.command.clear()), "command is empty"),
            (Box::new(|s| s.output = "out".into()), "output"),
            (Box::new(|s| s.output = "/".into()), "output"),
            (Box::new(|s| s.output = "/a/../b".into()), "output"),
            (Box::new(|s| s.caches[0].name = "../x".into()), "cache name"),
            (
                Box::new(|s| s.caches[0].path = "/src".into()),
                "path `/src`",
            ),
            (
                Box::new(|s| {
                    s.caches.push(BuildCache {
                        name: "other".into(),
                        path: "/nix".into(),
                    });
                }),
                "two caches",
            ),
            (Box::new(|s| s.env.push(("A=B".into(), "x".into()))), "A=B"),
        ];
        for (change, expected) in cases {
            let mut bad = step();
            change(&mut bad);
            let error = check(&bad).expect_err(expected);
            assert!(error.contains(expected), "{error}");
            assert!(
                error.starts_with("the plan's builder step is not runnable"),
                "{error}"
            );
        }
    }
}
