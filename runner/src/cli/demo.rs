//! `windlass demo`: the web + api + PostgreSQL stack on the embedded defaults (an SQLite file
//! under `.windlass/`, the local Docker engine, the plugins built in `plugins/`).
//!
//! The `stack-web-postgres` template plugin renders the stack, the engine deploys it in
//! dependency order (PostgreSQL healthy → api healthy → web), and the demo prints the URL of the
//! page, which shows rows the api wrote to PostgreSQL. Needs the images of
//! `scripts/build-test-images.sh postgres demo-api demo-web` (`scripts/demo.sh` builds them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::stacks::StackSpec;
use windlass::{ContainerFilter, Engine, Protocol};

const ORG: &str = "demo";
const STACK: &str = "shop";

/// Options of `windlass demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// The store.
    #[arg(long, default_value = "sqlite://.windlass/windlass.db")]
    store: String,
    /// The engine id (scopes the containers it owns).
    #[arg(long, default_value = "demo")]
    engine_id: String,
    /// Where the plugin components are.
    #[arg(
        long,
        env = "WINDLASS_PLUGINS_DIR",
        default_value = "plugins/target/wasm32-wasip2/release"
    )]
    plugins: PathBuf,
    /// Web replicas.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// How long to wait for every service to be ready.
    #[arg(long, default_value_t = 180)]
    timeout_secs: u64,
    /// Exit once the stack serves instead of following events (containers keep running).
    #[arg(long)]
    detach: bool,
}

pub(crate) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // 1. The template plugin, sandboxed, renders the stack.
    let mut host = PluginHost::builder().with_cache_dir(".windlass/compiled");
    if let Some(worker) = super::compile_worker() {
        host = host.with_compile_worker(worker);
    }
    let host = host.build()?;
    let component = args.plugins.join("stack_web_postgres.wasm");
    let plugin = host
        .load(
            PluginSpec::from_file("web-postgres", &component).with_kind(PluginKind::StackTemplate),
        )
        .await
        .with_context(|| {
            format!(
                "loading {} (build the plugins: `cargo build --release` in plugins/)",
                component.display()
            )
        })?;
    let template = plugin.stack_template().context("a stack template")?;
    let info = template.describe().await?;
    let params = BTreeMap::from([
        ("db_password".to_owned(), "demo".to_owned()),
        ("web_replicas".to_owned(), args.replicas.to_string()),
    ]);
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    let rendered = template
        .render(&pairs)
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    let spec = StackSpec::from_rendered(&rendered)
        .map_err(|e| anyhow::anyhow!("the rendered stack cannot run:\n{e}"))?;
    println!(
        "plugin `{}` {} renders {ORG}/{STACK}:",
        info.name, info.version
    );
    for service in &spec.services {
        let deps: Vec<String> = service
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.service, d.condition.as_str()))
            .collect();
        println!(
            "  {:<4} {:<28} replicas {}  waits for [{}]",
            service.name,
            service.image,
            service.replicas,
            deps.join(", ")
        );
    }

    // 2. The engine deploys it: SQLite, local Docker.
    let engine = Engine::builder()
        .with_engine_id(&args.engine_id)
        .with_store_url(&args.store)
        .with_stop_timeout(Duration::from_secs(5))
        .build()
        .await?;
    let from = engine.event_log().last_index() + 1;
    let deployment = engine.deploy_stack(ORG, STACK, &spec, &params).await?;
    println!("start order: {:?}", deployment.waves);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run = tokio::spawn(async move {
        runner
            .run(async {
                stopped.await.ok();
            })
            .await
    });

    // 3. Wait until every service is ready, saying what changes.
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let status = engine.stack_status(ORG, STACK).await?;
        let line: Vec<String> = status
            .iter()
            .map(|s| format!("{} {}/{} ready", s.service, s.ready, s.replicas))
            .collect();
        let line = line.join(", ");
        if line != last {
            println!("  [{:>5.1} s] {line}", started.elapsed().as_secs_f64());
            last = line;
        }
        if !status.is_empty() && status.iter().all(|s| s.is_ready()) {
            break;
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            stop.send(()).ok();
            run.await??;
            bail!(
                "the stack was not ready within {} s (are the images built? \
                 `bash scripts/build-test-images.sh postgres demo-api demo-web`)",
                args.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let filter = ContainerFilter {
        org: Some(ORG.into()),
        stack: Some(STACK.into()),
        service: Some("web".into()),
    };
    println!();
    for container in engine.containers(&filter).await? {
        let info = engine.inspect(&container.name).await?;
        if let Some(port) = info.host_port(80, Protocol::Tcp) {
            println!("open http://127.0.0.1:{port}/   ({})", container.name);
        }
    }
    println!("(the page lists visits read from PostgreSQL through the api; POST / records one)");
    if args.detach {
        stop.send(()).ok();
        run.await??;
        return Ok(());
    }

    // 4. Keep it reconciled and show what happens, until Ctrl-C.
    println!();
    println!("following events (Ctrl-C stops the engine; the containers keep running):");
    let mut events = engine.subscribe(from);
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            println!(
                "  #{:<5} {:<24} {}",
                event.index,
                event.kind,
                event.container.or(event.service).unwrap_or_default()
            );
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    stop.send(()).ok();
    run.await??;
    Ok(())
}
