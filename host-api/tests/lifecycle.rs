//! Loading, the compile cache, hot reload under load, pooling, and guest output in the log.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{component, load_spec, params};
use windlass_host_api::{
    CompileSource, LoadError, PluginHost, PluginKind, PluginSource, PluginSpec, Pooling,
};

fn web_postgres_params() -> Vec<(String, String)> {
    params(&[("db_password", "s3cret")])
}

/// Compiled code is native code: a cache directory, or an entry, that the group or others
/// may write is never loaded from. The directory is refused with its path and mode; the entry
/// is compiled afresh and replaced by one only the engine's user can write.
#[cfg(unix)]
#[tokio::test]
async fn a_cache_others_can_write_is_refused_and_never_loaded() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data").join("compiled");
    let spec = || PluginSpec::from_file("web", component("stack-web-postgres"));

    // Made by the host: 0700, its entries 0600.
    let first = PluginHost::builder().with_cache_dir(&dir).build().unwrap();
    let plugin = first.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);
    drop((plugin, first));
    assert_eq!(mode(&dir), 0o700);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(mode(entry), 0o600);

    // A group-writable directory: refused, naming the path and the mode.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    let error = PluginHost::builder()
        .with_cache_dir(&dir)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("{} has mode 0770", dir.display()))
            && error.contains("group or others may write it"),
        "{error}"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // A valid entry that others may write: not loaded (it would be, being valid), but
    // compiled afresh and replaced with a private one.
    std::fs::set_permissions(entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let host = PluginHost::builder().with_cache_dir(&dir).build().unwrap();
    let plugin = host.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);
    assert_eq!(mode(entry), 0o600);
    drop(plugin);
    // The replacement is trusted: the next load comes from the cache.
    let plugin = host.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Cache);
}

#[tokio::test]
async fn a_restart_loads_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let spec = || PluginSpec::from_file("web", component("stack-web-postgres"));

    let first = PluginHost::builder()
        .with_cache_dir(dir.path())
        .build()
        .unwrap();
    let plugin = first.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);
    drop((plugin, first));

    // A new host (a restart) with the same cache directory does not compile again.
    let second = PluginHost::builder()
        .with_cache_dir(dir.path())
        .build()
        .unwrap();
    let plugin = second.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Cache);
    let stack = plugin
        .stack_template()
        .unwrap()
        .render(&web_postgres_params())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.services.len(), 3);

    // A corrupt entry is discarded and recompiled, not trusted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = PluginHost::builder()
        .with_cache_dir(dir.path())
        .build()
        .unwrap();
    let plugin = third.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Compiled);
}

/// A cached component is mapped from a private snapshot of its entry, not from the entry: an
/// entry rewritten in place (truncated) while the plugin is loaded cannot take the process
/// down with SIGBUS when a call then runs code it has not run before.
#[tokio::test]
async fn an_entry_rewritten_in_place_does_not_touch_a_loaded_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let spec = || PluginSpec::from_file("web", component("stack-web-postgres"));
    let first = PluginHost::builder()
        .with_cache_dir(dir.path())
        .build()
        .unwrap();
    drop(first.load(spec()).await.unwrap());
    let plugin = first.load(spec()).await.unwrap();
    assert_eq!(plugin.compile_source(), CompileSource::Cache);
    // Nothing of the plugin has run yet; now its entry is cut to a few bytes in place.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let stack = plugin
        .stack_template()
        .unwrap()
        .render(&web_postgres_params())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.services.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_reload_swaps_atomically_while_calls_are_in_flight() {
    let host = PluginHost::builder().build().unwrap();
    let plugin = load_spec(
        &host,
        PluginSpec::from_file("web", component("stack-web-postgres"))
            .with_kind(PluginKind::StackTemplate)
            // Read by the replacement (hostile-huge) only: keep its output small.
            .with_config("bytes", "1000"),
    )
    .await;
    let template = plugin.stack_template().unwrap();
    let before = plugin.status().sha256;

    // Callers hammer the plugin while it is replaced by another stack template.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new((0u32, 0u32)));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (template, stop, outcomes) = (template.clone(), stop.clone(), outcomes.clone());
        callers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A call that never waits completes without yielding; let the timers run.
                tokio::task::yield_now().await;
                let result = template.render(&web_postgres_params()).await;
                let mut outcomes = outcomes.lock().unwrap();
                match result {
                    // The old version renders the three-service stack, the new one something else.
                    Ok(Ok(stack)) if stack.services.len() == 3 => outcomes.0 += 1,
                    Ok(Ok(_)) => outcomes.1 += 1,
                    Ok(Err(e)) => panic!("unexpected plugin error {}", e.message),
                    Err(e) => panic!("a call failed during the reload: {e}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let replacement = std::fs::read(component("hostile-huge")).unwrap();
    plugin
        .reload_from(PluginSource::Bytes(replacement.into()))
        .await
        .expect("reload to another stack template");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    assert_ne!(plugin.status().sha256, before);
    let (old, new) = *outcomes.lock().unwrap();
    assert!(
        old > 0 && new > 0,
        "calls on the old version: {old}, on the new: {new}"
    );
    // After the swap every call runs the new component.
    let stack = template.render(&[]).await.unwrap().unwrap();
    assert_ne!(stack.services.len(), 3);

    // A reload to another kind is refused and the running version stays.
    let sha = plugin.status().sha256;
    let error = plugin
        .reload_from(PluginSource::File(component("billing-hourly")))
        .await
        .unwrap_err();
    assert!(matches!(error, LoadError::KindMismatch { .. }), "{error}");
    assert_eq!(plugin.status().sha256, sha);
}

#[tokio::test]
async fn the_pooling_allocator_serves_calls_where_available() {
    let host = PluginHost::builder()
        .with_pooling(Pooling::Auto)
        .build()
        .unwrap();
    // This machine allows the reservation; CI runs on the same kind of machine.
    assert!(
        host.uses_pooling(),
        "the pooling allocator could not be set up here"
    );
    let plugin = load_spec(
        &host,
        PluginSpec::from_file("web", component("stack-web-postgres")),
    )
    .await;
    let template = plugin.stack_template().unwrap();
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let template = template.clone();
            tokio::spawn(async move { template.render(&web_postgres_params()).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().unwrap().services.len(), 3);
    }
}

/// Captures formatted tracing output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn guest_output_and_host_logs_go_to_tracing_tagged_with_the_plugin() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let host = common::host();
    let plugin = load_spec(
        &host,
        PluginSpec::from_file("noisy", component("hostile-panic")),
    )
    .await;
    let _ = plugin.stack_template().unwrap().render(&[]).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let panic_line = log
        .lines()
        .find(|line| line.contains("hostile-panic: render always panics"))
        .unwrap_or_else(|| panic!("panic message not in the log:\n{log}"));
    assert!(
        panic_line.contains("plugin=noisy") && panic_line.contains("stderr"),
        "{panic_line}"
    );
}
