//! Resident memory of a plugin host after loading two ~18 MB Python components (componentize-py),
//! each scenario in a fresh process: compiled from scratch in process with and without handing
//! the compiler's freed memory back (`malloc_trim`), compiled in a compile worker process (this
//! executable, started with `compile-worker`, as the runner does), and loaded from the compile
//! cache; then the same process after one render of each.
//!
//! `cargo bench --workspace --bench rss --profile dev` (build the plugins first:
//! scripts/build-plugins.sh). The figures are the process's VmRSS after the loads and one second
//! idle, its peak (VmHWM), and VmRSS after one render of each component. The targets (issue
//! 12): idle < 150 MiB compiled from scratch, < 90 MiB from the cache; the worker and cache
//! scenarios are checked against them and the bench fails when one is missed.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use windlass_host_api::{CompileWorker, Limits, PluginHost, PluginSpec};

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
fn child(cache: &Path, components: &Path, mode: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let before = status_kib("VmRSS:");
        let mut builder = PluginHost::builder()
            .with_cache_dir(cache)
            .with_memory_release(mode != "keep");
        if mode == "worker" {
            builder = builder
                .with_compile_worker(CompileWorker::current_exe(["compile-worker"]).unwrap());
        }
        let host = builder.build().unwrap();
        let mut plugins = Vec::new();
        let mut sources = Vec::new();
        for name in ["py_a", "py_b"] {
            let plugin = host
                .load(
                    PluginSpec::from_file(name, components.join(format!("{name}.wasm")))
                        .with_limits(Limits {
                            memory_bytes: 128 << 20,
                            ..Limits::default()
                        }),
                )
                .await
                .unwrap();
            sources.push(format!("{:?}", plugin.compile_source()));
            plugins.push(plugin);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle, peak) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
        let params = vec![
            ("image".to_owned(), "local/windlass-demo-web:1".to_owned()),
            ("replicas".to_owned(), "2".to_owned()),
        ];
        for plugin in &plugins {
            let template = plugin.stack_template().unwrap();
            template.render(&params).await.unwrap().unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!(
            "{} {} {} {} {}",
            before / 1024,
            idle / 1024,
            peak / 1024,
            status_kib("VmRSS:") / 1024,
            sources.join("+")
        );
        drop(plugins);
    });
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "compile-worker") {
        return windlass_host_api::run_compile_worker(&args[2..]);
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            Path::new(&args[i + 1]),
            Path::new(&args[i + 2]),
            &args[i + 3],
        );
        return std::process::ExitCode::SUCCESS;
    }
    let work = tempfile::tempdir().unwrap();
    components(work.path());
    let exe = std::env::current_exe().unwrap();
    let run = |cache: &Path, mode: &str| -> String {
        let out = Command::new(&exe)
            .args(["--child"])
            .arg(cache)
            .arg(work.path())
            .arg(mode)
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
        "  {:<42} {:>6} {:>6} {:>6} {:>12}  source",
        "scenario", "start", "idle", "peak", "after render"
    );
    let mut missed = Vec::new();
    for (label, mode, cache, target) in [
        (
            "compiled in process, memory kept",
            "keep",
            "cache-keep",
            None,
        ),
        (
            "compiled in process, malloc_trim",
            "release",
            "cache-release",
            None,
        ),
        (
            "compiled in a worker process (the runner)",
            "worker",
            "cache-worker",
            Some(150),
        ),
        ("from the compile cache", "worker", "cache-worker", Some(90)),
    ] {
        let line = run(&work.path().join(cache), mode);
        let f: Vec<&str> = line.split_whitespace().collect();
        let idle: u64 = f[1].parse().unwrap();
        let verdict = match target {
            Some(target) if idle < target => format!("  < {target} ok"),
            Some(target) => {
                missed.push(format!("{label}: {idle} MiB, target < {target}"));
                format!("  < {target} MISSED")
            }
            None => String::new(),
        };
        println!(
            "  {label:<42} {:>6} {:>6} {:>6} {:>12}  {}{verdict}",
            f[0], f[1], f[2], f[3], f[4]
        );
    }
    println!("  targets (idle): < 150 MiB compiled from scratch, < 90 MiB from the cache");
    assert!(missed.is_empty(), "RSS targets missed: {missed:?}");
    std::process::ExitCode::SUCCESS
}
