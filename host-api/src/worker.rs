//! Compiling in a short-lived worker process.
//!
//! Cranelift's scratch memory is freed when a compilation ends, but glibc keeps much of it in
//! its arenas, fragmented: even after `malloc_trim` the runner kept ~200 MiB after compiling two
//! 18 MB Python components. A worker process takes all of that with it when it exits. The
//! parent hands the worker the component bytes on stdin; the worker builds an engine with the
//! parent's settings (so the compiled code is compatible, and a component the pool refuses is
//! refused there with the same reason), compiles, writes the compile cache entry (temporary
//! file, then rename) and exits. The parent then loads that entry like any cached one: mapped
//! from a private snapshot, so only the pages a call runs become resident (`cache`).
//!
//! The worker is the embedder's own executable started with its own arguments (the runner's
//! is the hidden `windlass compile-worker` subcommand), which calls [`run_compile_worker`].
//! Without one configured ([`crate::PluginHostBuilder::with_compile_worker`]), or without a
//! compile cache, or when the worker cannot be started or dies, the host compiles in process
//! and hands the freed memory back with `malloc_trim` (`memory`).
//!
//! Exit codes: 0 the entry is written; 2 the component does not compile (the reason on
//! stderr, reported as the load's error); anything else is a failed worker.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::cache::{CompileCache, sha256_hex};
use crate::host::{PluginHostBuilder, Pooling};

/// The exit code of a worker whose component does not compile.
const EXIT_COMPILE_ERROR: u8 = 2;

/// How to start a compile worker: a program and the arguments that make it call
/// [`run_compile_worker`].
#[derive(Debug, Clone)]
pub struct CompileWorker {
    program: PathBuf,
    args: Vec<OsString>,
}

impl CompileWorker {
    /// A worker started as `program args…` (the host appends its own arguments).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// This process's executable started with `args`, e.g. `["compile-worker"]`; `None` when
    /// the executable cannot be found.
    pub fn current_exe<I, S>(args: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let program = std::env::current_exe().ok()?;
        Some(Self {
            program,
            args: args.into_iter().map(Into::into).collect(),
        })
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// The engine settings a worker needs to compile code the parent's engine accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineSettings {
    pub pooling: bool,
    pub fuel: bool,
    pub max_concurrent_instances: u32,
    pub max_memory_bytes: u64,
}

impl EngineSettings {
    fn to_args(self) -> Vec<String> {
        vec![
            format!("--pooling={}", if self.pooling { "on" } else { "off" }),
            format!("--fuel={}", self.fuel),
            format!("--max-instances={}", self.max_concurrent_instances),
            format!("--max-memory-bytes={}", self.max_memory_bytes),
        ]
    }

    fn builder(self) -> PluginHostBuilder {
        PluginHostBuilder::default()
            .with_pooling(if self.pooling {
                Pooling::On
            } else {
                Pooling::Off
            })
            .with_fuel(self.fuel)
            .with_max_concurrent_instances(self.max_concurrent_instances)
            .with_max_memory_bytes(self.max_memory_bytes)
    }
}

/// What became of a compilation handed to a worker.
#[derive(Debug)]
pub(crate) enum WorkerOutcome {
    /// The cache entry is written.
    Written,
    /// The component does not compile: wasmtime's reason.
    CompileError(String),
    /// The worker could not do its job (not started, killed, another error): compile in
    /// process instead.
    Failed(String),
}

impl CompileWorker {
    /// Compiles `bytes` into the cache at `cache_dir` in a worker process.
    pub(crate) fn compile(
        &self,
        settings: EngineSettings,
        cache_dir: &Path,
        bytes: &[u8],
    ) -> WorkerOutcome {
        let child = Command::new(&self.program)
            .args(&self.args)
            .args(settings.to_args())
            .arg("--cache-dir")
            .arg(cache_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                return WorkerOutcome::Failed(format!(
                    "cannot start {}: {error}",
                    self.program.display()
                ));
            }
        };
        // The worker reads all of stdin before it writes anything, so this cannot deadlock.
        let written = child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(bytes))
            .transpose();
        let output = match child.wait_with_output() {
            Ok(output) => output,
            Err(error) => return WorkerOutcome::Failed(format!("waiting for it: {error}")),
        };
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        match output.status.code() {
            Some(0) => WorkerOutcome::Written,
            Some(code) if code == i32::from(EXIT_COMPILE_ERROR) => {
                WorkerOutcome::CompileError(stderr)
            }
            _ => WorkerOutcome::Failed(match written {
                Err(error) => format!("{} ({error} writing its input): {stderr}", output.status),
                Ok(_) => format!("{}: {stderr}", output.status),
            }),
        }
    }
}

/// Runs a compile worker in this process and returns its exit code: the entry point of the
/// program a [`CompileWorker`] starts. `args` are the arguments after the ones given to
/// [`CompileWorker::current_exe`] or [`CompileWorker::arg`]; the component comes on stdin.
pub fn run_compile_worker<I, S>(args: I) -> ExitCode
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    match worker_main(args.into_iter().map(Into::into).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            ExitCode::from(code)
        }
    }
}

fn worker_main(args: Vec<OsString>) -> Result<(), (u8, String)> {
    let usage = |what: &str| (1, format!("compile worker: {what}"));
    let mut settings = EngineSettings {
        pooling: false,
        fuel: false,
        max_concurrent_instances: 1,
        max_memory_bytes: 0,
    };
    let mut cache_dir = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--cache-dir" {
            cache_dir = args.next().map(PathBuf::from);
            continue;
        }
        let arg = arg.to_string_lossy().into_owned();
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| usage(&format!("unexpected argument {arg}")))?;
        let bad = || usage(&format!("bad value in {arg}"));
        match key {
            "--pooling" => settings.pooling = value == "on",
            "--fuel" => settings.fuel = value.parse().map_err(|_| bad())?,
            "--max-instances" => {
                settings.max_concurrent_instances = value.parse().map_err(|_| bad())?;
            }
            "--max-memory-bytes" => settings.max_memory_bytes = value.parse().map_err(|_| bad())?,
            _ => return Err(usage(&format!("unexpected argument {arg}"))),
        }
    }
    let cache_dir = cache_dir.ok_or_else(|| usage("--cache-dir is required"))?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| usage(&format!("reading the component from stdin: {e}")))?;
    let (engine, _) = settings
        .builder()
        .engine()
        .map_err(|e| usage(&e.to_string()))?;
    let cache = CompileCache::new(cache_dir, &engine).map_err(|e| usage(&e))?;
    let component = wasmtime::component::Component::new(&engine, &bytes)
        .map_err(|e| (EXIT_COMPILE_ERROR, format!("{e:#}")))?;
    cache
        .store(&sha256_hex(&bytes), &component)
        .map_err(|e| usage(&format!("writing the compile cache entry: {e:#}")))
}
