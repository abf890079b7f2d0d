//! The stacks of the runner's file, kept true to the file: rendered by their templates,
//! deployed with origin `file`, reloaded on SIGHUP, and — unless `--no-prune` — removed once
//! the file no longer lists them, after the engine's orphan grace (see `docs/runner.md`).
//!
//! Stacks deployed through the API carry origin `api` and are never pruned. A reload that
//! fails (a file that does not validate, a template that refuses its parameters) changes
//! nothing and says why in the log. This module must not change sections other than
//! `[[stacks]]` at run time: the engine, store, API and plugins are set up once, at start.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use windlass::plugins::Plugin;
use windlass::stacks::StackSpec;
use windlass::{Engine, StackOrigin};
use windlass_config::RunnerConfig;

/// The loaded plugins, by name.
pub(crate) type Plugins = HashMap<String, Plugin>;

/// An (org, stack) pair.
type StackKey = (String, String);

/// A `[[stacks]]` entry rendered by its template, ready to deploy.
pub(crate) struct Rendered {
    org: String,
    name: String,
    params: BTreeMap<String, String>,
    spec: StackSpec,
}

/// Renders every stack of `config` with the loaded `plugins`; the first that cannot be
/// rendered (no such template, parameters refused, a stack that cannot run) is the error.
/// Plugins are pure planners: nothing is deployed here.
pub(crate) async fn render(
    config: &RunnerConfig,
    plugins: &Plugins,
) -> anyhow::Result<Vec<Rendered>> {
    let mut rendered = Vec::with_capacity(config.stacks.len());
    for stack in &config.stacks {
        let name = format!("{}/{}", stack.org, stack.name);
        let template = plugins
            .get(&stack.template)
            .and_then(|plugin| plugin.stack_template())
            .with_context(|| {
                format!(
                    "stack {name}: `{}` is not a loaded stack template",
                    stack.template
                )
            })?;
        if let Some((field, message)) = crate::api::unmarked_secret_param(&template, &stack.params)
            .await
            .map_err(|e| anyhow::anyhow!("stack {name}: {}", e.message))?
        {
            anyhow::bail!("stack {name}: {field}: {message}");
        }
        let output = template
            .render(&stack.render_params())
            .await
            .with_context(|| format!("stack {name}: rendering with `{}`", stack.template))?
            .map_err(|e| {
                let field = e.field.map(|f| format!("{f}: ")).unwrap_or_default();
                anyhow::anyhow!(
                    "stack {name}: template `{}` refused the parameters: {field}{} ({})",
                    stack.template,
                    e.message,
                    e.code
                )
            })?;
        let mut spec = StackSpec::from_rendered(&output)
            .map_err(|e| anyhow::anyhow!("stack {name}: the rendered stack cannot run:\n{e}"))?;
        spec.target.clone_from(&stack.target);
        rendered.push(Rendered {
            org: stack.org.clone(),
            name: stack.name.clone(),
            params: stack.params.clone(),
            spec,
        });
    }
    Ok(rendered)
}

/// The file's stacks and what is waiting to be pruned. Shared by the start-up path and the
/// SIGHUP handler.
pub(crate) struct FileStacks {
    engine: Engine,
    plugins: Plugins,
    /// The config as loaded at start: a reload applies only its `[[stacks]]`.
    started_with: RunnerConfig,
    /// Remove the stacks the file dropped (`--no-prune` turns it off).
    prune: bool,
    /// The stacks of the file as last loaded.
    declared: Mutex<BTreeSet<StackKey>>,
    /// Stacks the file dropped that are waiting out their grace.
    pending: Mutex<BTreeSet<StackKey>>,
}

impl FileStacks {
    pub(crate) fn new(
        engine: Engine,
        plugins: Plugins,
        started_with: RunnerConfig,
        prune: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            plugins,
            started_with,
            prune,
            declared: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(BTreeSet::new()),
        })
    }

    /// The loaded plugins.
    pub(crate) fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    fn file(&self) -> &std::path::Path {
        &self.started_with.file
    }

    /// Deploys the rendered stacks with origin `file`; they become the file's stacks.
    pub(crate) async fn deploy(&self, rendered: Vec<Rendered>) -> anyhow::Result<()> {
        let keys: BTreeSet<StackKey> = rendered
            .iter()
            .map(|r| (r.org.clone(), r.name.clone()))
            .collect();
        // First, so that a stack coming back while it waits out its grace is kept.
        *lock(&self.declared) = keys;
        for stack in rendered {
            let name = format!("{}/{}", stack.org, stack.name);
            let deployment = self
                .engine
                .deploy_stack_from(
                    &stack.org,
                    &stack.name,
                    &stack.spec,
                    &stack.params,
                    StackOrigin::File,
                )
                .await
                .with_context(|| format!("stack {name}: deploying"))?;
            tracing::info!(stack = %name, waves = ?deployment.waves, "stack deployed");
        }
        Ok(())
    }

    /// Schedules the removal of every stack the file declared once and no longer lists: each
    /// goes after the engine's orphan grace, unless the file or the API declares it again
    /// meanwhile. Does nothing with `--no-prune`.
    pub(crate) async fn prune(self: &Arc<Self>) -> anyhow::Result<()> {
        if !self.prune {
            return Ok(());
        }
        let stale: Vec<StackKey> = {
            let from_file = self
                .engine
                .stacks_from(StackOrigin::File)
                .await
                .context("listing the stacks the file declared")?;
            let declared = lock(&self.declared);
            from_file
                .into_iter()
                .filter(|key| !declared.contains(key))
                .collect()
        };
        let grace = self.engine.orphan_grace();
        for key in stale {
            if !lock(&self.pending).insert(key.clone()) {
                continue;
            }
            tracing::info!(
                stack = %format!("{}/{}", key.0, key.1),
                file = %self.file().display(),
                grace_ms = grace.as_millis() as u64,
                "stack no longer in the file: removing it after the grace period (--no-prune keeps it)"
            );
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                this.remove_if_still_dropped(key).await;
            });
        }
        Ok(())
    }

    async fn remove_if_still_dropped(&self, key: StackKey) {
        lock(&self.pending).remove(&key);
        let name = format!("{}/{}", key.0, key.1);
        if lock(&self.declared).contains(&key) {
            tracing::info!(stack = %name, "stack back in the file: kept");
            return;
        }
        match self
            .engine
            .remove_stack_from(&key.0, &key.1, StackOrigin::File)
            .await
        {
            Ok(Some(services)) => tracing::info!(
                stack = %name,
                file = %self.file().display(),
                ?services,
                "stack removed: no longer in the file"
            ),
            Ok(None) => tracing::info!(
                stack = %name,
                "stack declared through the API since it left the file: kept"
            ),
            Err(error) => tracing::error!(stack = %name, %error, "could not prune the stack"),
        }
    }

    /// SIGHUP: reads the file again and applies its `[[stacks]]`: new and changed stacks are
    /// deployed, dropped ones pruned. A file that does not validate, or a stack that cannot be
    /// rendered, is reported and changes nothing.
    pub(crate) async fn reload(self: &Arc<Self>) {
        let file = self.file().display().to_string();
        tracing::info!(%file, "SIGHUP: reloading the config file");
        let config = match windlass_config::load(self.file()) {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%file, %error, "the config file does not validate: nothing changed");
                return;
            }
        };
        let changed = self.sections_changed(&config);
        if !changed.is_empty() {
            tracing::warn!(
                %file,
                sections = %changed.join(", "),
                "only [[stacks]] is reloaded: restart the runner to apply changes to these sections"
            );
        }
        let rendered = match render(&config, &self.plugins).await {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(%file, error = %format!("{error:#}"), "a stack of the reloaded file cannot be rendered: nothing changed");
                return;
            }
        };
        let count = rendered.len();
        if let Err(error) = self.deploy(rendered).await {
            tracing::error!(%file, error = %format!("{error:#}"), "deploying the reloaded stacks");
            return;
        }
        if let Err(error) = self.prune().await {
            tracing::error!(%file, error = %format!("{error:#}"), "pruning after the reload");
            return;
        }
        tracing::info!(%file, stacks = count, "config file reloaded");
    }

    /// The sections of `config`, other than `[[stacks]]`, that differ from the file at start.
    fn sections_changed(&self, config: &RunnerConfig) -> Vec<&'static str> {
        let old = &self.started_with;
        [
            ("[engine]", old.engine != config.engine),
            ("[store]", old.store != config.store),
            ("[runtime]", old.runtime != config.runtime),
            ("[api]", old.api != config.api),
            ("[health]", old.health != config.health),
            ("[events]", old.events != config.events),
            ("[billing]", old.billing != config.billing),
            ("[quotas]", old.quotas != config.quotas),
            ("[[plugins]]", old.plugins != config.plugins),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
