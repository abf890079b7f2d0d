//! `windlass demo`: the demo on the embedded defaults — an SQLite file under `.windlass/`, the
//! local Docker engine, and the plugins built in `plugins/`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::{ContainerFilter, Engine, PortSpec, Protocol, ServiceSpec};

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
    /// Exit once the stack serves instead of following events (containers keep running).
    #[arg(long)]
    detach: bool,
}

pub(crate) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // 1. A stack template plugin, sandboxed: what the web + API + PostgreSQL stack looks like.
    let host = PluginHost::builder()
        .with_cache_dir(".windlass/compiled")
        .build()?;
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
    let params = vec![("db_password".to_owned(), "demo".to_owned())];
    let stack = template
        .render(&params)
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    println!(
        "plugin `{}` {} ({:?}) renders:",
        info.name,
        info.version,
        plugin.compile_source()
    );
    for service in &stack.services {
        let deps: Vec<String> = service
            .depends_on
            .iter()
            .map(|d| format!("{} ({:?})", d.service, d.condition))
            .collect();
        println!(
            "  {:<4} {:<28} replicas {}  depends on [{}]  {} health checks",
            service.name,
            service.image,
            service.replicas,
            deps.join(", "),
            service.health_checks.len()
        );
    }
    println!(
        "  (deploying this stack needs the demo images and stack support; below runs a busybox stack)"
    );
    println!();

    // 2. The engine: SQLite, local Docker.
    let engine = Engine::builder()
        .with_engine_id(&args.engine_id)
        .with_store_url(&args.store)
        .with_stop_timeout(Duration::from_secs(2))
        .build()
        .await?;
    let page = "mkdir -p /www && echo \"<h1>Windlass demo</h1><p>served by $(hostname)</p>\" > /www/index.html && exec httpd -f -p 8080 -h /www";
    engine
        .apply(
            "demo",
            "site",
            ServiceSpec::new("web", "windlass-test/busybox:1")
                .with_command(["sh", "-c", page])
                .with_port(PortSpec::tcp(8080))
                .with_memory("32Mi")
                .with_cpu("250m")
                .with_replicas(args.replicas),
        )
        .await?;
    let from = engine.event_log().last_index() + 1;
    let report = engine.reconcile().await?;
    println!(
        "reconciled: {} created, {} adopted, {} started, {} removed",
        report.created, report.adopted, report.started, report.removed
    );
    for container in engine.containers(&ContainerFilter::default()).await? {
        let info = engine.inspect(&container.name).await?;
        match info.host_port(8080, Protocol::Tcp) {
            Some(port) => println!("  open http://127.0.0.1:{port}/   ({})", container.name),
            None => println!("  {} is {}", container.name, container.status),
        }
    }
    if args.detach {
        return Ok(());
    }

    // 3. Keep it reconciled and show what happens, until Ctrl-C.
    println!();
    println!("following events (Ctrl-C stops the engine; the containers keep running):");
    let mut events = engine.subscribe(from);
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            println!(
                "  #{:<5} {:<20} {}",
                event.index,
                event.kind,
                event.container.or(event.service).unwrap_or_default()
            );
        }
    });
    engine
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
