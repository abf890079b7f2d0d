//! Resident memory of a plugin host after loading two ~18 MB Python components (componentize-py),
//! each scenario in a fresh process: compiled from scratch with and without handing the
//! compiler's freed memory back (`malloc_trim`), and loaded from the compile cache.
//!
//! `cargo bench --workspace --bench rss` (build the plugins first: scripts/build-plugins.sh).
//! The figures are the process's VmRSS after the loads and one second idle, and its peak
//! (VmHWM). The targets (issue 12): < 150 MiB compiled from scratch, < 90 MiB from the cache.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use windlass_host_api::{PluginHost, PluginSpec};

/// A `/proc/self/status` figure, in KiB.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The Python component, and a second distinct one: the same bytes with a custom section
/// appended (a valid component with another sha256, so it is compiled and cached apart).
fn components(dir: &Path) -> [std::path::PathBuf; 2] {
    let bytes = std::fs::read(common::component("py-static-site")).unwrap();
    let first = dir.join("py_a.wasm");
    let second = dir.join("py_b.wasm");
    std::fs::write(&first, &bytes).unwrap();
    let mut other = bytes;
    // Custom section 0: size 5, name length 4, name "rss2".
    other.extend_from_slice(&[0x00, 0x05, 0x04, b'r', b's', b's', b'2']);
    std::fs::write(&second, other).unwrap();
    [first, second]
}

/// One scenario, in this process: load both components, idle, print the figures.
fn child(cache: &Path, components: &Path, release: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let before = status_kib("VmRSS:");
        let host = PluginHost::builder()
            .with_cache_dir(cache)
            .with_memory_release(release)
            .build()
            .unwrap();
        let mut plugins = Vec::new();
        let mut sources = Vec::new();
        for name in ["py_a", "py_b"] {
            let plugin = host
                .load(PluginSpec::from_file(
                    name,
                    components.join(format!("{name}.wasm")),
                ))
                .await
                .unwrap();
            sources.push(format!("{:?}", plugin.compile_source()));
            plugins.push(plugin);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!(
            "{} {} {} {}",
            before / 1024,
            status_kib("VmRSS:") / 1024,
            status_kib("VmHWM:") / 1024,
            sources.join("+")
        );
        drop(plugins);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            Path::new(&args[i + 1]),
            Path::new(&args[i + 2]),
            args[i + 3] == "release",
        );
        return;
    }
    let work = tempfile::tempdir().unwrap();
    components(work.path());
    let exe = std::env::current_exe().unwrap();
    let run = |cache: &Path, release: &str| -> String {
        let out = Command::new(&exe)
            .args(["--child"])
            .arg(cache)
            .arg(work.path())
            .arg(release)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    println!("plugin host RSS with two ~18 MB Python components (MiB, each in a fresh process)");
    println!(
        "  {:<44} {:>7} {:>7} {:>7}  source",
        "scenario", "start", "idle", "peak"
    );
    for (label, release, fresh_cache) in [
        ("compiled from scratch, memory kept", "keep", true),
        ("compiled from scratch, memory released", "release", true),
        ("from the compile cache", "release", false),
    ] {
        let cache = work.path().join(if fresh_cache {
            format!("cache-{release}")
        } else {
            "cache-release".into()
        });
        let line = run(&cache, release);
        let f: Vec<&str> = line.split_whitespace().collect();
        println!(
            "  {label:<44} {:>7} {:>7} {:>7}  {}",
            f[0], f[1], f[2], f[3]
        );
    }
    println!("  targets: idle < 150 MiB compiled from scratch, < 90 MiB from the cache");
}
