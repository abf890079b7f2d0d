//! Engines under test: a unique engine id per test, a SQLite store in a temporary directory,
//! fast timings, and a guard that removes everything the engine created on the Docker host.

use std::time::{Duration, Instant};

use anyhow::bail;
use windlass::labels::LABEL_ENGINE;
use windlass::{Engine, Event, EventFilter};

/// One test's engine id and store, cleaned up on drop.
#[derive(Debug)]
pub struct EngineScope {
    /// The engine id, unique per test.
    pub id: String,
    /// The store URL (an SQLite file in a temporary directory).
    pub store_url: String,
    /// Holds the store's directory until the scope drops.
    _dir: tempfile::TempDir,
}

impl Default for EngineScope {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineScope {
    /// A fresh engine id and store.
    pub fn new() -> Self {
        // RUST_LOG=windlass=debug shows what the engine does during a test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temporary directory");
        let store_url = format!("sqlite://{}", dir.path().join("windlass.db").display());
        Self {
            id: format!("t{}", super::docker::suffix()),
            store_url,
            _dir: dir,
        }
    }

    /// A builder for an engine of this scope with test-friendly timings.
    pub fn builder(&self) -> windlass::EngineBuilder {
        Engine::builder()
            .with_engine_id(&self.id)
            .with_store_url(&self.store_url)
            .with_stop_timeout(Duration::from_secs(1))
            .with_orphan_grace(Duration::from_millis(500))
            .with_resync_interval(Duration::from_millis(500))
    }

    /// Builds an engine of this scope, failing with what to run when Docker is missing.
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        super::docker::connect_with_busybox().await?;
        Ok(self.builder().build().await?)
    }
}

impl Drop for EngineScope {
    fn drop(&mut self) {
        let id = self.id.clone();
        let outcome = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(super::docker::cleanup_labelled(LABEL_ENGINE, &id))
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of engine {} failed: {e:#}", self.id),
            Err(_) => eprintln!("cleanup of engine {} panicked", self.id),
        }
    }
}

/// Waits until the engine's event log holds an event of `kind` matching `pred`.
pub async fn wait_event(
    engine: &Engine,
    kind: &str,
    timeout: Duration,
    pred: impl Fn(&Event) -> bool,
) -> anyhow::Result<Event> {
    let deadline = Instant::now() + timeout;
    loop {
        let filter = EventFilter {
            kind: Some(kind.to_owned()),
            limit: Some(10_000),
            ..EventFilter::default()
        };
        if let Some(event) = engine.events(&filter).await?.into_iter().find(|e| pred(e)) {
            return Ok(event);
        }
        if Instant::now() >= deadline {
            bail!("no `{kind}` event within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The kinds of all events so far, in order.
pub async fn event_kinds(engine: &Engine) -> anyhow::Result<Vec<String>> {
    let filter = EventFilter {
        limit: Some(10_000),
        ..EventFilter::default()
    };
    Ok(engine
        .events(&filter)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect())
}

/// Waits until build `id` is in a terminal state and, when it succeeded, deployed (or failed
/// to deploy): a succeeded build is recorded before its image is deployed.
pub async fn build_finished(
    engine: &Engine,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<windlass::builds::BuildRecord> {
    use windlass::builds::BuildState;
    let deadline = Instant::now() + timeout;
    loop {
        let record = engine.build_record(id).await?;
        let settled = record.state != BuildState::Succeeded
            || record.deployed_revision.is_some()
            || record.error.is_some();
        if record.state.is_terminal() && settled {
            return Ok(record);
        }
        if Instant::now() > deadline {
            bail!("build {id} still {} after {timeout:?}", record.state);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What builds left in a build work directory besides the kept clones (`kept/`: the clone of
/// each service's last successful build, reused by its next one): nothing, when every build
/// cleaned up after itself.
pub fn build_leftovers(work: &std::path::Path) -> Vec<String> {
    dir_entries(work)
        .into_iter()
        .filter(|n| n != "kept")
        .collect()
}

/// The names in `dir` (none when it does not exist).
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How many kept clones a build work directory holds.
pub fn kept_clones(work: &std::path::Path) -> usize {
    std::fs::read_dir(work.join("kept")).map_or(0, |d| d.flatten().count())
}
