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
use crate::{LoadError, Plugin, PluginEvent, PluginSpec};

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

    /// Builds the host: creates the engine, the linkers and the epoch ticker.
    pub fn build(self) -> Result<PluginHost, HostBuildError> {
        let (engine, pooling) = self.engine()?;
        let wasm = |e: wasmtime::Error| HostBuildError::Engine(e.to_string());

        let mut base = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut base).map_err(wasm)?;
        crate::bindings::host::add_to_linker::<CallState, HasSelf<CallState>>(&mut base, |s| s)
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
                epoch_tick: self.epoch_tick,
            }),
        })
    }

    fn engine(&self) -> Result<(Engine, bool), HostBuildError> {
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            .max_wasm_stack(1 << 20);
        if self.pooling != Pooling::Off {
            let mut pool = PoolingAllocationConfig::default();
            let n = self.max_concurrent_instances;
            pool.total_component_instances(n)
                .total_core_instances(n * 4)
                .total_memories(n * 2)
                .total_tables(n * 4)
                .total_stacks(n)
                .max_memory_size(self.max_memory_bytes as usize)
                .max_memories_per_component(4)
                .max_tables_per_component(8)
                .max_core_instances_per_component(16);
            let mut pooled = config.clone();
            pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            match Engine::new(&pooled) {
                Ok(engine) => return Ok((engine, true)),
                Err(error) if self.pooling == Pooling::Auto => {
                    tracing::warn!(%error, "pooling allocator unavailable; allocating plugin instances on demand");
                }
                Err(error) => {
                    return Err(HostBuildError::Engine(format!(
                        "pooling allocator: {error}"
                    )));
                }
            }
        }
        let engine = Engine::new(&config).map_err(|e| HostBuildError::Engine(e.to_string()))?;
        Ok((engine, false))
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
