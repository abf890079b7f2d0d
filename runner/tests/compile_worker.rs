//! The compile worker: `windlass run` compiles plugin components in a short-lived
//! `windlass compile-worker` process, which writes the compile cache entry the runner then
//! maps, so none of the compiler's memory stays in the runner (docs/plugin-host.md; the RSS
//! figures are `cargo bench --workspace --bench rss --profile dev`).
//!
//! Needs the built plugins (scripts/build-plugins.sh, or `WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use windlass::plugins::{
    CompileSource, CompileWorker, LoadError, PluginHost, PluginSource, PluginSpec, Pooling,
};
use windlass_test_support::plugins::component;

fn worker() -> CompileWorker {
    CompileWorker::new(env!("CARGO_BIN_EXE_windlass")).arg("compile-worker")
}

fn host(cache: &std::path::Path, worker: Option<CompileWorker>) -> PluginHost {
    let mut builder = PluginHost::builder()
        .with_cache_dir(cache)
        .with_pooling(Pooling::Off);
    if let Some(worker) = worker {
        builder = builder.with_compile_worker(worker);
    }
    builder.build().unwrap()
}

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// A host with a worker compiles there: the runner's process only maps the entry the worker
/// wrote, the plugin renders, and a restart loads that entry from the cache.
#[tokio::test]
async fn components_compile_in_the_worker_and_the_entry_is_reused() {
    let cache = tempfile::tempdir().unwrap();
    let spec = || PluginSpec::from_file("web", component("stack_web_postgres.wasm").unwrap());
    let plugin = host(cache.path(), Some(worker()))
        .load(spec())
        .await
        .unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Worker);
    let written = entries(cache.path());
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].extension().is_some_and(|e| e == "cwasm"),
        "{written:?}"
    );
    let params = vec![("db_password".to_owned(), "s3cret".to_owned())];
    let stack = plugin
        .stack_template()
        .unwrap()
        .render(&params)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.services.len(), 3);

    // A restart: the worker's entry is loaded, nothing is compiled again.
    let again = host(cache.path(), Some(worker()))
        .load(spec())
        .await
        .unwrap();
    assert_eq!(again.compile_source(), CompileSource::Cache);
    assert_eq!(entries(cache.path()), written);
}

/// A component that does not compile is refused with wasmtime's reason, relayed from the
/// worker (not "the worker failed"), and nothing is written to the cache.
#[tokio::test]
async fn a_component_that_does_not_compile_is_refused_with_the_reason() {
    let cache = tempfile::tempdir().unwrap();
    // A component header followed by a truncated section.
    let bytes: Vec<u8> = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x01, 0x7f];
    let error = host(cache.path(), Some(worker()))
        .load(PluginSpec::new("broken", PluginSource::Bytes(bytes.into())))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, LoadError::Compile { .. }),
        "{error:?}: {message}"
    );
    assert!(
        message.contains("plugin `broken`: not a valid component") && !message.contains("worker"),
        "{message}"
    );
    assert_eq!(entries(cache.path()), Vec::<std::path::PathBuf>::new());
}

/// A worker that cannot be started (or dies) costs nothing but a warning: the component is
/// compiled in process, as an embedder without a worker does.
#[tokio::test]
async fn without_a_working_worker_the_host_compiles_in_process() {
    let cache = tempfile::tempdir().unwrap();
    let missing = CompileWorker::new("/nonexistent/windlass");
    let spec = PluginSpec::from_file("web", component("stack_web_postgres.wasm").unwrap());
    let plugin = host(cache.path(), Some(missing)).load(spec).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);

    // A program that exits 1 without writing anything (not a worker at all).
    let cache = tempfile::tempdir().unwrap();
    let not_a_worker = CompileWorker::new("/bin/false");
    let spec = PluginSpec::from_file("web", component("stack_web_postgres.wasm").unwrap());
    let plugin = host(cache.path(), Some(not_a_worker))
        .load(spec)
        .await
        .unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);
}

/// The hidden subcommand itself: the component on stdin, the entry in `--cache-dir`, private.
#[test]
fn the_compile_worker_subcommand_writes_a_private_entry() {
    use std::os::unix::fs::PermissionsExt as _;
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("compiled");
    let bytes = std::fs::read(component("stack_web_postgres.wasm").unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args([
            "compile-worker",
            "--pooling=off",
            "--fuel=false",
            "--max-instances=1",
            "--max-memory-bytes=268435456",
            "--cache-dir",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let written = entries(&dir);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(mode(&written[0]), 0o600);

    // An argument it does not know: exit 1 and the reason, never a silent success.
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["compile-worker", "--bogus=1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unexpected argument --bogus=1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
