//! `windlass run --config FILE` and `windlass config check FILE`: the runner (see
//! `docs/runner.md`). It loads the plugins, renders and deploys the stacks (pruning those the
//! file dropped), serves the HTTP API, then reconciles until Ctrl-C or SIGTERM; SIGHUP
//! reloads the file's stacks (`file_stacks`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use windlass::plugins::PluginHost;

use super::file_stacks::FileStacks;

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The config file (see docs/runner.md).
    #[arg(long, short, default_value = "windlass.toml")]
    pub(crate) config: PathBuf,
    /// Keep stacks the file declared and no longer lists (by default they are removed after
    /// the orphan grace; stacks deployed through the API are never removed this way).
    #[arg(long)]
    pub(crate) no_prune: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a config file without running anything: exit 0 and a summary when it is
    /// valid, exit 2 and the error (file:line:column: key: message) when it is not.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

/// The exit code for a config file that does not validate.
pub(crate) const EXIT_BAD_CONFIG: u8 = 2;

/// `windlass config check FILE`.
pub(crate) fn check(file: &std::path::Path) -> ExitCode {
    let config = match windlass_config::load(file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    println!("{}: valid", file.display());
    println!(
        "  engine   {} (data in {})",
        config.engine.id,
        config.engine.data_dir.display()
    );
    println!("  store    {}", config.store.redacted_url());
    println!(
        "  runtime  docker at {}",
        config
            .runtime
            .endpoint
            .as_deref()
            .unwrap_or("DOCKER_HOST or the local socket")
    );
    let plugins: Vec<String> = config
        .plugins
        .iter()
        .map(|p| format!("{} ({})", p.name, p.kind))
        .collect();
    println!("  plugins  {}: {}", plugins.len(), plugins.join(", "));
    let stacks: Vec<String> = config
        .stacks
        .iter()
        .map(|s| format!("{}/{} ({})", s.org, s.name, s.template))
        .collect();
    println!("  stacks   {}: {}", stacks.len(), stacks.join(", "));
    ExitCode::SUCCESS
}

/// `windlass run --config FILE`: plugins, engine, stacks, then reconcile until a signal.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = match windlass_config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };

    let shutdown = shutdown_signal()?;
    // Installed now: SIGHUP's default action ends the process.
    let hangup = hangup_signal()?;

    // 1. The plugins, before anything touches Docker: a plugin that does not load stops here.
    let largest_memory = config
        .plugins
        .iter()
        .map(|p| p.limits.memory_bytes)
        .max()
        .unwrap_or(0);
    let mut host = PluginHost::builder().with_cache_dir(config.compile_cache_dir());
    // Components are compiled in a worker process, so the runner keeps none of the compiler's
    // memory (docs/plugin-host.md).
    if let Some(worker) = super::compile_worker() {
        host = host.with_compile_worker(worker);
    }
    let host = host
        .with_fuel(config.plugins.iter().any(|p| p.limits.fuel.is_some()))
        // The host's default cap is 256 MiB; a plugin granted more needs a bigger pool slot.
        .with_max_memory_bytes(largest_memory.max(256 << 20))
        .build()
        .context("starting the plugin host")?;
    if let Some(reason) = host.pooling_unavailable() {
        println!(
            "  plugins  pooling allocator unavailable, allocating instances on demand (limits hold; \
             instantiation is slower): {reason}"
        );
    }
    // Subscribed before the first load, so every plugin's `plugin-loaded` reaches the log.
    let plugin_events = host.events();
    let mut plugins = HashMap::new();
    // Each plugin's secret config values, filled by the engine once it is open.
    let mut secret_configs = Vec::new();
    for plugin in &config.plugins {
        let spec = plugin.plugin_spec();
        if !plugin.secrets.is_empty() {
            secret_configs.push((plugin, spec.secret_config.clone()));
        }
        let loaded = host
            .load(spec)
            .await
            .with_context(|| format!("loading plugin `{}`", plugin.name))?;
        tracing::info!(plugin = %plugin.name, kind = %plugin.kind, compiled = ?loaded.compile_source(), "plugin loaded");
        plugins.insert(plugin.name.clone(), loaded);
    }

    // 2. The stacks, rendered before anything touches Docker: plugins are pure planners, and
    //    a template that refuses its parameters stops the runner here. Only when a plugin
    //    reads granted secrets is the engine (store, key, Docker) opened first, since those
    //    values come from its store.
    let rendered = if secret_configs.is_empty() {
        Some(super::file_stacks::render(&config, &plugins).await?)
    } else {
        None
    };

    // 3. The engine, the plugins' granted secrets from its store, the file's stacks deployed
    //    to it, and those it no longer lists pruned after the grace period (unless --no-prune).
    let billing = config.billing_config(|name| plugins.get(name).and_then(|p| p.billing_rule()));
    let mut builder = config.engine_builder().with_billing(billing).with_builds(
        config
            .builds
            .engine_config(|name| plugins.get(name).and_then(|p| p.build_strategy())),
    );
    for target in config.targets(|name| plugins.get(name).and_then(|p| p.cloud_adapter())) {
        builder = builder.with_target(target);
    }
    let engine = builder.build().await.context("starting the engine")?;
    crate::api::forward_plugin_events(&host, plugin_events, engine.clone());
    // `[swarm] embedded`: the local Docker engine becomes a single-node swarm before anything
    // is placed on an adapter target that drives it.
    if config.swarm.embedded {
        let swarm = engine
            .ensure_embedded_swarm(config.swarm.advertise_addr)
            .await
            .context("swarm.embedded")?;
        let how = if swarm.initialised {
            "initialised"
        } else {
            "already active"
        };
        println!(
            "  swarm    embedded single-node swarm {how} (node {})",
            swarm.node_id
        );
    }
    for (plugin, values) in secret_configs {
        engine
            .grant_plugin_secrets(&plugin.name, plugin.secrets.clone(), values)
            .await
            .with_context(|| format!("plugins: the secrets granted to `{}`", plugin.name))?;
    }
    let rendered = match rendered {
        Some(rendered) => rendered,
        None => super::file_stacks::render(&config, &plugins).await?,
    };
    let stacks = FileStacks::new(engine.clone(), plugins, config.clone(), !args.no_prune);
    stacks.deploy(rendered).await?;
    stacks.prune().await?;

    // 4. The HTTP API. On first start an admin token for every org is made and shown once.
    let api = crate::api::ApiState::new(engine.clone());
    api.metrics()
        .watch_plugins(stacks.plugins().values().cloned());
    // The file's stacks are re-rendered when their template is reloaded through the API.
    for stack in &config.stacks {
        api.templated()
            .remember(
                &stack.org,
                &stack.name,
                &stack.template,
                &stack.render_params().into_iter().collect(),
            )
            .await
            .with_context(|| format!("stacks: recording {}/{}", stack.org, stack.name))?;
    }
    if let Some(token) = api.tokens.ensure_admin().await? {
        println!("admin token (shown once, store it now): {}", token.secret);
    }
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("api.listen: cannot listen on {}", config.api.listen))?;
    tracing::info!(listen = %config.api.listen, "serving the HTTP API");

    // 5. Reconcile and serve until Ctrl-C or SIGTERM: the API stops accepting and finishes
    //    in-flight requests, the engine flushes its event log; containers keep running.
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::api::serve(
        listener,
        crate::api::router(api.clone()),
        async {
            api_stopped.await.ok();
        },
    ));
    // SIGHUP reloads the file's stacks; see `file_stacks`.
    let reloader = hangup.map(|hangup| spawn_reloader(hangup, Arc::clone(&stacks)));
    engine.run(shutdown).await?;
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    // Followed streams (events, logs) end first, so that graceful shutdown is not held open
    // by a client that never disconnects.
    api.close_streams();
    stop_api.send(()).ok();
    server.await.context("the API server task")??;
    drop(stacks);
    Ok(ExitCode::SUCCESS)
}

/// The SIGHUP stream (nothing where there are no signals).
#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;
/// The SIGHUP stream (nothing where there are no signals).
#[cfg(not(unix))]
type Hangup = std::convert::Infallible;

/// Listens for SIGHUP, which reloads the config file's stacks.
fn hangup_signal() -> anyhow::Result<Option<Hangup>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Some(
            signal(SignalKind::hangup()).context("listening for SIGHUP")?,
        ))
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

/// Reloads the file's stacks on every SIGHUP, one reload at a time.
fn spawn_reloader(hangup: Hangup, stacks: Arc<FileStacks>) -> tokio::task::JoinHandle<()> {
    #[cfg(unix)]
    {
        let mut hangup = hangup;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                stacks.reload().await;
            }
        })
    }
    #[cfg(not(unix))]
    {
        drop(stacks);
        match hangup {}
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal during startup is not lost (nor fatal): the
/// engine stops after its first pass.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
                _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C: stopping");
        })
    }
}
