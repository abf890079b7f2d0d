//! A small host application embedding Windlass: it declares a stack, queries its containers,
//! and follows the event log, until Ctrl-C or SIGTERM.
//!
//! ```sh
//! cargo run -p windlass --example host_app
//! ```
//!
//! Settings come from the environment (all optional):
//!
//! | variable | default |
//! | --- | --- |
//! | `WINDLASS_STORE` | `sqlite://.windlass/host-app.db` |
//! | `WINDLASS_ENGINE_ID` | `host-app` |
//! | `WINDLASS_IMAGE` | `windlass-test/busybox:1` (built by `scripts/build-test-images.sh`) |
//! | `WINDLASS_REPLICAS` | `2` |
//!
//! Every event is printed as one JSON line on stdout; the recovery test reads them.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use windlass::{ContainerFilter, Engine, PortSpec, ServiceSpec, lifecycle::RestartPolicy};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let image = var("WINDLASS_IMAGE", "windlass-test/busybox:1");
    let replicas: u32 = var("WINDLASS_REPLICAS", "2")
        .parse()
        .context("WINDLASS_REPLICAS")?;

    let engine = Engine::builder()
        .with_store_url(var("WINDLASS_STORE", "sqlite://.windlass/host-app.db"))
        .with_engine_id(var("WINDLASS_ENGINE_ID", "host-app"))
        .with_stop_timeout(Duration::from_secs(2))
        .build()
        .await
        .context("starting the engine")?;

    // 1. Declare the desired state: a web server and a worker.
    let web = ServiceSpec::new("web", &image)
        .with_command(["httpd", "-f", "-p", "8080", "-h", "/etc"])
        .with_port(PortSpec::tcp(8080))
        .with_memory("64Mi")
        .with_replicas(replicas);
    let worker = ServiceSpec::new("worker", &image)
        .with_command([
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        ])
        .with_cpu("250m")
        .with_restart(RestartPolicy::Always);
    engine.apply("acme", "demo", web).await?;
    engine.apply("acme", "demo", worker).await?;

    // 2. Follow the event log from the beginning: replayed, then live.
    let mut events = engine.subscribe(0);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => println!("{}", serde_json::to_string(&event).unwrap_or_default()),
                Err(error) => eprintln!("event stream: {error}"),
            }
        }
    });

    // 3. Run the engine in the background and query what it runs.
    let runner = engine.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for container in engine.containers(&ContainerFilter::default()).await? {
        eprintln!(
            "{:<32} {:<8} {:<10} {}",
            container.name,
            container.service,
            container.status,
            container.state.unwrap_or_default()
        );
    }

    shutdown_signal().await;
    eprintln!("stopping the engine (containers keep running; the next start adopts them)");
    let _ = stop_tx.send(());
    running.await??;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}
