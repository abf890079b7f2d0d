//! The plugin host: one wasmtime engine, its linkers, the compile cache and the epoch ticker.
//!
//! Build one [`PluginHost`] per process and load every plugin through it; plugins share the
//! engine (and its pooling allocator), never a store.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::broadcast;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CompileCache;
use crate::sandbox::CallState;
use crate::worker::{CompileWorker, EngineSettings};
use crate::{LoadError, Plugin, PluginEvent, PluginSpec};

/// Core module instances one component may hold (Python components built with
/// componentize-py link a dozen shared libraries, each an instance).
pub(crate) const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Linear memories one component may define, over all its core modules.
pub(crate) const MAX_MEMORIES_PER_COMPONENT: u32 = 8;
/// Linear memories one core module may define (multi-memory).
const MAX_MEMORIES_PER_MODULE: u32 = 8;
/// Tables one component may define, over all its core modules.
pub(crate) const MAX_TABLES_PER_COMPONENT: u32 = 16;
/// Tables one core module may define.
const MAX_TABLES_PER_MODULE: u32 = 8;

/// Whether to use wasmtime's pooling instance allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Use it when the machine allows its address-space reservation, otherwise allocate on
    /// demand (and say so in the log).
    #[default]
    Auto,
    /// Require it; building the host fails when it is not available.
    On,
    /// Allocate every instance on demand.
    Off,
}

/// Builds a [`PluginHost`].
#[derive(Debug, Clone)]
pub struct PluginHostBuilder {
    cache_dir: Option<PathBuf>,
    pooling: Pooling,
    fuel: bool,
    epoch_tick: Duration,
    max_concurrent_instances: u32,
    max_memory_bytes: u64,
    release_memory: bool,
    compile_worker: Option<CompileWorker>,
}

impl Default for PluginHostBuilder {
    fn default() -> Self {
        Self {
            cache_dir: None,
            pooling: Pooling::Auto,
            fuel: false,
            epoch_tick: Duration::from_millis(1),
            max_concurrent_instances: 256,
            max_memory_bytes: 256 << 20,
            release_memory: true,
            compile_worker: None,
        }
    }
}

impl PluginHostBuilder {
    /// Keeps compiled components in `dir`, so a restart loads plugins without recompiling.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Chooses the instance allocator.
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Enables fuel metering, so plugins with `Limits::fuel` are stopped after that much work.
    /// Metering costs every plugin some speed, so it is off unless asked for.
    pub fn with_fuel(mut self, enabled: bool) -> Self {
        self.fuel = enabled;
        self
    }

    /// Sets the resolution of call deadlines (default 1 ms).
    pub fn with_epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_micros(100));
        self
    }

    /// Sets how many plugin instances may be alive at once with the pooling allocator.
    pub fn with_max_concurrent_instances(mut self, count: u32) -> Self {
        self.max_concurrent_instances = count.max(1);
        self
    }

    /// Sets the largest memory cap any plugin may be given (the pooling allocator reserves
    /// this much address space per slot).
    pub fn with_max_memory_bytes(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Whether to hand the compiler's freed memory back to the OS after every compilation
    /// (default on; glibc only). Off keeps it in the allocator, as measured by `benches/rss.rs`.
    pub fn with_memory_release(mut self, enabled: bool) -> Self {
        self.release_memory = enabled;
        self
    }

    /// Compiles components in a short-lived worker process started as `worker` (which calls
    /// [`crate::run_compile_worker`]), so the compiler's memory leaves with it; the parent then
    /// loads the compile cache entry the worker wrote. Needs a compile cache
    /// ([`Self::with_cache_dir`]); without either, components are compiled in process. A worker
    /// that cannot be started or dies is logged and the component compiled in process.
    pub fn with_compile_worker(mut self, worker: CompileWorker) -> Self {
        self.compile_worker = Some(worker);
        self
    }

    /// Builds the host: creates the engine, the linkers and the epoch ticker.
    pub fn build(self) -> Result<PluginHost, HostBuildError> {
        let (engine, pool_unavailable) = self.engine()?;
        let pooling = self.pooling != Pooling::Off && pool_unavailable.is_none();
        let wasm = |e: wasmtime::Error| HostBuildError::Engine(e.to_string());

        let mut base = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut base).map_err(wasm)?;
        // Both contract versions' `host` imports: a component imports the one it was built for.
        crate::bindings::host::add_to_linker::<CallState, HasSelf<CallState>>(&mut base, |s| s)
            .map_err(wasm)?;
        crate::bindings::v0_1::stack_template::windlass::plugin::host::add_to_linker::<
            CallState,
            HasSelf<CallState>,
        >(&mut base, |s| s)
        .map_err(wasm)?;
        let mut with_http = base.clone();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut with_http).map_err(wasm)?;

        let cache = match &self.cache_dir {
            Some(dir) => {
                Some(CompileCache::new(dir.clone(), &engine).map_err(HostBuildError::Cache)?)
            }
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone(), self.epoch_tick)
            .map_err(|e| HostBuildError::Engine(format!("cannot start the epoch thread: {e}")))?;
        let (events, _) = broadcast::channel(1024);
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                base_linker: base,
                http_linker: with_http,
                cache,
                events,
                ticker,
                fuel: self.fuel,
                pooling,
                pool_unavailable,
                release_memory: self.release_memory,
                compile_worker: self.compile_worker.clone().map(|worker| {
                    (
                        worker,
                        EngineSettings {
                            pooling,
                            fuel: self.fuel,
                            max_concurrent_instances: self.max_concurrent_instances,
                            max_memory_bytes: self.max_memory_bytes,
                        },
                    )
                }),
                epoch_tick: self.epoch_tick,
            }),
        })
    }

    /// The engine, and why the pool could not be had when `Auto` fell back to on-demand.
    pub(crate) fn engine(&self) -> Result<(Engine, Option<String>), HostBuildError> {
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            .max_wasm_stack(1 << 20);
        if self.pooling != Pooling::Off {
            let mut pool = PoolingAllocationConfig::default();
            let n = self.max_concurrent_instances;
            // The per-component and per-module limits are the same the store's limiter applies
            // without the pool (`sandbox::Limiter`), so a component loads on both allocators or
            // on neither; the memory budget itself is the limiter's, on both.
            pool.total_component_instances(n)
                .total_core_instances(n * 8)
                .total_memories(n * 2)
                .total_tables(n * 4)
                .total_stacks(n)
                .max_memory_size(self.max_memory_bytes as usize)
                .table_elements(crate::sandbox::MAX_TABLE_ELEMENTS)
                .max_memories_per_module(MAX_MEMORIES_PER_MODULE)
                .max_tables_per_module(MAX_TABLES_PER_MODULE)
                .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
                .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
                .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT);
            let mut pooled = config.clone();
            pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            match Engine::new(&pooled) {
                Ok(engine) => return Ok((engine, None)),
                Err(error) if self.pooling == Pooling::Auto => {
                    let reason = format!("{error:#}");
                    tracing::warn!(
                        reason = %reason,
                        "pooling allocator unavailable; allocating plugin instances on demand \
                         (the same memory budget and limits hold, instantiation is slower)"
                    );
                    let engine =
                        Engine::new(&config).map_err(|e| HostBuildError::Engine(e.to_string()))?;
                    return Ok((engine, Some(reason)));
                }
                Err(error) => {
                    return Err(HostBuildError::Engine(format!(
                        "pooling allocator: {error}"
                    )));
                }
            }
        }
        let engine = Engine::new(&config).map_err(|e| HostBuildError::Engine(e.to_string()))?;
        Ok((engine, None))
    }
}

/// Why a [`PluginHost`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostBuildError {
    /// wasmtime refused the engine configuration.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// The compile cache directory is unusable.
    #[error("compile cache: {0}")]
    Cache(String),
}

/// Loads plugins and owns what they share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub engine: Engine,
    base_linker: Linker<CallState>,
    http_linker: Linker<CallState>,
    pub cache: Option<CompileCache>,
    pub events: broadcast::Sender<PluginEvent>,
    pub ticker: EpochTicker,
    pub fuel: bool,
    pub pooling: bool,
    /// Why the pooling allocator asked for (`Auto`) could not be had.
    pub pool_unavailable: Option<String>,
    /// Whether compilations end with [`crate::memory::release_free_memory`].
    pub release_memory: bool,
    /// The compile worker and the engine settings it is started with.
    pub compile_worker: Option<(CompileWorker, EngineSettings)>,
    pub epoch_tick: Duration,
}

impl std::fmt::Debug for HostInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostInner")
            .field("pooling", &self.pooling)
            .field("fuel", &self.fuel)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl HostInner {
    /// The linker for a kind: cloud adapters alone get `wasi:http`.
    pub(crate) fn linker(&self, kind: crate::PluginKind) -> &Linker<CallState> {
        match kind {
            crate::PluginKind::CloudAdapter => &self.http_linker,
            _ => &self.base_linker,
        }
    }
}

impl PluginHost {
    /// Starts building a host.
    pub fn builder() -> PluginHostBuilder {
        PluginHostBuilder::default()
    }

    /// Loads a plugin: reads and compiles (or loads from the cache) its component, checks its
    /// contract version and kind, and links it. The returned handle is callable at once.
    pub async fn load(&self, spec: PluginSpec) -> Result<Plugin, LoadError> {
        Plugin::load(self.clone(), spec).await
    }

    /// Subscribes to plugin events: loads, reloads, failed calls and disabled plugins.
    pub fn events(&self) -> broadcast::Receiver<PluginEvent> {
        self.inner.events.subscribe()
    }

    /// Whether instances come from the pooling allocator.
    pub fn uses_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Why the pooling allocator could not be had, when the host was built with
    /// [`Pooling::Auto`] and fell back to allocating on demand (e.g. under `ulimit -v`). The
    /// limits hold all the same; every plugin loaded then also says so in its
    /// [`PluginEventKind::Loaded`](crate::PluginEventKind::Loaded) event.
    pub fn pooling_unavailable(&self) -> Option<&str> {
        self.inner.pool_unavailable.as_deref()
    }

    /// The wasmtime engine, for embedders who measure or precompile.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// Advances the engine's epoch while calls are in flight, and sleeps otherwise.
///
/// Deadlines are counted in ticks; an idle host costs no wake-ups.
pub(crate) struct EpochTicker {
    in_flight: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (in_flight, stop) = (in_flight.clone(), stop.clone());
            std::thread::Builder::new()
                .name("windlass-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        if in_flight.load(Ordering::Acquire) == 0 {
                            std::thread::park();
                            continue;
                        }
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(Self {
            in_flight,
            stop,
            thread: Some(thread),
        })
    }

    /// Marks a call in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        InFlight(self.in_flight.clone())
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// A call in flight; keeps the epoch ticking.
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
