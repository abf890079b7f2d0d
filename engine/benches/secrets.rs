//! Secret injection benchmark against the real Docker daemon: what injecting 3 file secrets
//! adds to a container start, against the same start without secrets, in one run.
//!
//! `cargo bench --workspace --bench secrets` (needs Docker and `windlass-test/busybox:1`).
//!
//! Each round applies one single-replica service and times one reconcile pass, which creates
//! and starts its container (reading, decrypting and writing the secrets, and owning the files
//! by the container's user, for the service with secrets). The two kinds alternate, and which
//! goes first in a round alternates too, so that the daemon's drift over the run affects both
//! alike; medians and p90s are printed.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use windlass::labels::LABEL_ENGINE;
use windlass::secrets::secrecy::SecretString;
use windlass::secrets::{SecretRef, SecretsConfig};
use windlass::{Engine, ServiceSpec};

mod common;
use common::remove_labelled;

const IMAGE: &str = "windlass-test/busybox:1";
const ROUNDS: usize = 20;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let id = format!("bench-secrets-{}", std::process::id());
    let runtime_dir = std::path::PathBuf::from(format!("/dev/shm/windlass-{id}-secrets"));
    let engine = Engine::builder()
        .with_engine_id(&id)
        .with_store_url(format!("sqlite://{}", dir.path().join("w.db").display()))
        .with_resource_sampling(false)
        .with_secrets(
            SecretsConfig::key_file(dir.path().join("secrets.key")).with_runtime_dir(&runtime_dir),
        )
        .build()
        .await?;
    for name in ["one", "two", "three"] {
        engine
            .set_secret(
                "bench",
                name,
                SecretString::from(format!("value-of-{name}-{}", "x".repeat(64))),
                "bench",
            )
            .await?;
    }
    let docker = bollard::Docker::connect_with_local_defaults()?;
    let mut plain = Vec::new();
    let mut injected = Vec::new();
    for round in 0..ROUNDS {
        // Which kind goes first alternates: the first start after a round's cleanup is the
        // slower one (dockerd is still removing the last round's containers).
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for with_secrets in order {
            let mut spec = ServiceSpec::new(format!("s{round}-{}", u8::from(with_secrets)), IMAGE)
                .with_command(["sleep", "600"]);
            if with_secrets {
                for name in ["one", "two", "three"] {
                    spec = spec.with_secret(SecretRef::file(name));
                }
            }
            engine.apply("bench", "start", spec).await?;
            let started = Instant::now();
            let report = engine.reconcile().await?;
            let took = started.elapsed();
            anyhow::ensure!(report.started == 1, "{report:?}");
            if with_secrets {
                injected.push(took);
            } else {
                plain.push(took);
            }
        }
        // Keep the host quiet between rounds: remove this round's containers.
        for service in engine.services(windlass::Scope::All).await? {
            engine
                .remove_service("bench", "start", &service.service)
                .await?;
        }
        remove_labelled(&docker, LABEL_ENGINE, &id).await?;
        engine.reconcile().await?;
    }
    let (p50_plain, p90_plain) = stats(&mut plain);
    let (p50_inj, p90_inj) = stats(&mut injected);
    println!("secret injection benchmark: {ROUNDS} starts each, one container per start");
    println!("  without secrets    p50 {p50_plain:>8.1?}  p90 {p90_plain:>8.1?}");
    println!("  with 3 file secrets p50 {p50_inj:>8.1?}  p90 {p90_inj:>8.1?}");
    println!(
        "  added by injection (p50) {:.1} ms",
        (p50_inj.as_secs_f64() - p50_plain.as_secs_f64()) * 1e3
    );
    remove_labelled(&docker, LABEL_ENGINE, &id).await?;
    std::fs::remove_dir_all(&runtime_dir).ok();
    Ok(())
}

fn stats(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}
